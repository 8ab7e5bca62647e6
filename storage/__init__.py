"""Object storage: one small interface, a local embedded backend and an S3 Object Lock backend."""

from .base import (
    COMPLIANCE,
    GOVERNANCE,
    IntegrityError,
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    RetentionLocked,
    RetentionShort,
    StorageError,
    VerifyResult,
    oldest_version,
)
from .local import LocalStore


def __getattr__(name: str):
    # S3Store lives in storage.s3 and needs boto3: import it only when asked for
    if name in ("S3Store", "BucketNotLocked"):
        from . import s3

        return getattr(s3, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COMPLIANCE",
    "GOVERNANCE",
    "IntegrityError",
    "InvalidKey",
    "BucketNotLocked",
    "LocalStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "RetentionLocked",
    "RetentionShort",
    "S3Store",
    "StorageError",
    "VerifyResult",
    "oldest_version",
]
