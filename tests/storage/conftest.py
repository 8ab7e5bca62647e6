"""Fixtures for the storage tests: one ``store`` fixture over both backends.

The S3 parameter needs a real S3 server with Object Lock (``scripts/s3-test-server start``
exports ``FOOTAGE_TEST_S3_ENDPOINT`` and throwaway ``AWS_*`` credentials); without it the S3
cases are skipped with that reason. Every test gets a fresh bucket.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from storage import LocalStore

ENDPOINT = os.environ.get("FOOTAGE_TEST_S3_ENDPOINT")
NO_S3 = "FOOTAGE_TEST_S3_ENDPOINT is not set: start a server with `eval \"$(scripts/s3-test-server start)\"`"


def s3_params() -> dict:
    return {"endpoint_url": ENDPOINT, "path_style": True, "region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}


@pytest.fixture
def s3_endpoint() -> str:
    if not ENDPOINT:
        pytest.skip(NO_S3)
    return ENDPOINT


@pytest.fixture
def bucket_name() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def s3_client(s3_endpoint):
    """A plain boto3 client, to ask the server directly what our code claims."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=s3_params()["region"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture
def s3_store(s3_endpoint, bucket_name):
    """An S3Store on a fresh bucket with Object Lock and no default retention."""
    from storage.s3 import S3Store

    store = S3Store(bucket_name, **s3_params())
    store.init_bucket(default_retention_days=None)
    return store


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    return request.getfixturevalue("s3_store")


@pytest.fixture
def s3_settings(s3_endpoint) -> dict:
    """Keyword arguments for S3Store pointing at the test server."""
    return s3_params()


def _put_record(store, data: bytes, retain_hours: float | None = None) -> dict:
    """A stored original plus its manifest, shaped as the ingest flow writes them."""
    from media.model import Recording
    from records.keys import manifest_key, original_key
    from records.manifest import build_manifest

    sha = hashlib.sha256(data).hexdigest()
    made = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
    key = original_key(sha, "cam-7", made, ".mp4")
    until = datetime.now(timezone.utc) + timedelta(hours=retain_hours) if retain_hours else None
    info = store.put(key, data, sha256=sha, retain_until=until)
    stored = {"key": key, "sha256": sha, "size": info.size, "version_id": info.version_id, "backend": store.name}
    recording = Recording(path=f"{sha}.mp4", name=f"{sha}.mp4", size=len(data), sha256=sha, container="mp4",
                          duration=10.0, start=made, start_source="filename", device_id="cam-7")
    manifest = build_manifest(recording, stored)  # the one writer the ingest flow uses
    store.put(manifest_key(sha), manifest.to_json(), retain_until=until, content_type="application/json")
    return stored


@pytest.fixture
def put_record():
    """``put_record(store, data, retain_hours=None)``: an original plus its manifest."""
    return _put_record
