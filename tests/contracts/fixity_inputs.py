"""A fixed store for the fixity report's contract tests: five records on the local backend, one
intact with its master and access copy, one whose bytes changed, one whose object is gone, one
whose manifest is not a manifest, one whose access copy is gone.

The expected outputs under ``expected/`` were written by the code before the fixity report was a
model (commit d4b6568): see ``make_expected.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

STARTED = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
FINISHED = datetime(2026, 12, 1, 2, 0, 5, 250000, tzinfo=timezone.utc)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(sha: str, key: str, derivatives: list[dict]) -> bytes:
    recording = {"path": f"/inbox/{sha[:6]}.mp4", "name": f"{sha[:6]}.mp4", "size": 5, "sha256": sha,
                 "container": "mp4", "duration": 1.0, "start": "2026-11-20T09:00:00+08:00",
                 "start_source": "filename", "device_id": "CAM1"}
    body = {"schema": "footage.manifest/2", "sha256": sha, "recording": recording,
            "stored": {"key": key, "sha256": sha, "size": 5, "retain_until": None, "mode": "COMPLIANCE",
                       "version_id": None, "backend": "local"}}
    if derivatives:
        body["archive"] = {"action": "remux", "stored": derivatives}
    return json.dumps(body).encode()


def make_store(root: Path):
    """The store and its manifest keys, in key order."""
    from storage.local import LocalStore

    store = LocalStore(root)
    originals = {name: name.encode() * 3 for name in ("intact", "changed", "gone", "badman", "noaccess")}
    keys = []
    for name, data in sorted(originals.items(), key=lambda kv: _sha(kv[1])):
        sha = _sha(data)
        key = f"originals/{sha}.mp4"
        derivatives = []
        if name != "gone":
            store.put(key, data, sha256=sha)
        if name in ("intact", "noaccess"):
            for kind in ("master", "access"):
                d = data + kind.encode()
                dkey = f"derivatives/{sha}/{kind}.{'mkv' if kind == 'master' else 'mp4'}"
                if not (name == "noaccess" and kind == "access"):
                    store.put(dkey, d, sha256=_sha(d))
                derivatives.append({"kind": kind, "key": dkey, "sha256": _sha(d), "size": len(d), "action": "remux"})
        mkey = f"manifests/{sha}.json"
        store.put(mkey, b"not json" if name == "badman" else _manifest(sha, key, derivatives))
        keys.append(mkey)
    # the changed record: its object's bytes altered behind the store's back
    changed = store._obj(f"originals/{_sha(originals['changed'])}.mp4")
    os.chmod(changed, 0o644)
    changed.write_bytes(b"tampered")
    return store, sorted(keys)


class Frozen(datetime):
    """``datetime`` whose ``now`` is :data:`FINISHED`."""

    @classmethod
    def now(cls, tz=None):
        return FINISHED if tz is None else FINISHED.astimezone(tz)

