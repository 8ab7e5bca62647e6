"""Opens the configured object store: the embedded local backend or S3 with Object Lock."""

from __future__ import annotations

from storage import LocalStore, ObjectStore
from storage.s3 import S3Store  # boto3 itself is imported when S3Store opens a bucket

from records.settings import Settings


def open_store(settings: Settings) -> ObjectStore:
    if settings.storage.backend == "local":
        return LocalStore(settings.store_root)
    if settings.storage.backend == "s3":
        s = settings.storage
        return S3Store(
            s.bucket,
            endpoint_url=s.endpoint_url,
            region=s.region,
            path_style=s.path_style,
            profile=s.profile,
            prefix=s.prefix,
            allow_unlocked=s.allow_unlocked,
        )
    raise ValueError(f"unknown storage backend {settings.storage.backend!r}")
