"""Reads that a newer version cannot fool.

S3 Object Lock protects a version, not a key: anyone allowed to PUT may add a new version on top
of a locked one (or a delete marker), and a plain GET then returns the newcomer. Records that are
written once (manifests, audit segments, explanations) are therefore read at the version of their
key that was written FIRST, the locked original. On a store without versions (the local backend)
that is the one object.
"""

from __future__ import annotations

from storage import ObjectStore, oldest_version


def first_version_id(store: ObjectStore, key: str) -> str | None:
    """The id of the version of ``key`` written first (None on a store without versions).

    Raises :class:`storage.ObjectNotFound` when ``key`` has no version.
    """
    if not hasattr(store, "versions"):
        return None
    return oldest_version(store, key)["version_id"]


def read_first(store: ObjectStore, key: str) -> bytes:
    """The bytes of ``key`` as first written: newer versions and delete markers are ignored."""
    return store.get_bytes(key, first_version_id(store, key))
