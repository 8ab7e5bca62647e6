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
    StorageError,
    VerifyResult,
)
from .local import LocalStore

__all__ = [
    "COMPLIANCE",
    "GOVERNANCE",
    "IntegrityError",
    "InvalidKey",
    "LocalStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "RetentionLocked",
    "StorageError",
    "VerifyResult",
]
