"""A record's manifest (``manifests/<sha256>.json``, schema ``footage.manifest/1``)."""

from __future__ import annotations

import json
from typing import Any

from storage import ObjectStore

from records.keys import manifest_key


def load_manifest(store: ObjectStore, sha256: str) -> dict[str, Any]:
    return json.loads(store.get_bytes(manifest_key(sha256)))
