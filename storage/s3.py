"""The S3 backend with Object Lock: AWS S3, MinIO and Ceph RADOS Gateway.

Write-once is enforced by the server, not by this code: the bucket is created with Object Lock
(which turns versioning on), every put states its retention mode, retain-until date and legal
hold, and deletes always name a version, so the server's lock decides. What this module adds:

* integrity on the way in: Content-MD5 on every PUT and every multipart part (AWS and Ceph RGW
  reject a body that does not match it; RGW 16 ignores ``x-amz-checksum-sha256``), plus a
  SHA-256 checksum per request for servers that honour it, and the whole file's SHA-256 checked
  before a multipart upload is completed, so a wrong body never becomes a locked version;
* integrity later: :meth:`S3Store.verify` streams the object back and re-hashes it. A multipart
  ETag or composite checksum is never compared with a file's SHA-256;
* idempotence: keys are deterministic and a put first looks at the current version; the same
  SHA-256 there means the object is returned as is, without a second version;
* the lock is checked after each put: RGW 16 ignores the lock headers of
  CreateMultipartUpload, so the retention and legal hold are applied to the new version
  explicitly whenever the server did not apply them;
* errors become :mod:`storage.base` errors (a refused delete is :class:`RetentionLocked`) whose
  text never holds credentials; transient failures are retried by botocore with backoff.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta, timezone
from email.header import decode_header
from pathlib import Path
from typing import Any, BinaryIO, Iterator
from urllib.parse import urlsplit, urlunsplit

from .base import (
    CHUNK,
    COMPLIANCE,
    GOVERNANCE,
    MODES,
    IntegrityError,
    ObjectInfo,
    ObjectNotFound,
    RetentionLocked,
    RetentionShort,
    StorageError,
    VerifyResult,
    check_key,
    sha256_file,
)

MiB = 1 << 20
# Chosen by measurement (benchmarks/bench_s3_upload.py --sweep: Ceph RGW 16 on 127.0.0.1, 2 shared
# cores, 256 MiB, interleaved with boto3 upload_file): parallelism mattered (8-10 parts in flight
# beat 4 by ~0.1 in ratio), part size between 8 and 32 MiB did not, 64 MiB parts left the
# pipeline idle at the end. 8 MiB x 10 is boto3's own shape, at most ~88 MiB of buffers.
DEFAULT_PART_SIZE = 8 * MiB
DEFAULT_CONCURRENCY = 10
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PARTS = 10_000
SHA256_META = "sha256"
#: incomplete multipart uploads (a run killed mid-upload) are aborted by the bucket's lifecycle
#: rule after this many days; ``init_bucket`` sets the rule
ABORT_UPLOADS_DAYS = 7
PROBE_BODY = b"footage retention probe: kept as long as permanent records, to learn what this server holds\n"

_NOT_FOUND = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
_DIGEST = {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "InvalidChecksum", "BadChecksum"}
_NO_LOCK_CONFIG = {"ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"}


_CLIENTS: dict[tuple, Any] = {}
_CLIENTS_LOCK = threading.Lock()


class BucketNotLocked(StorageError):
    """The bucket has no Object Lock, and ``allow_unlocked`` was not given."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(timezone.utc) if value is not None else None


def safe_endpoint(url: str | None) -> str | None:
    """``url`` without any ``user:password@`` part, for messages and reprs."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def encode_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """S3 user metadata travels in HTTP headers (ASCII only): encode other text as RFC 2047."""
    out = {}
    for k, v in metadata.items():
        v = str(v)
        if v.isascii() and v.isprintable():
            out[k] = v
        else:
            out[k] = "=?utf-8?b?" + _b64(v.encode("utf-8")) + "?="
    return out


def decode_metadata(metadata: dict[str, str]) -> dict[str, str]:
    out = {}
    for k, v in metadata.items():
        if v.startswith("=?") and v.endswith("?="):
            try:
                v = "".join(
                    part.decode(cs or "ascii") if isinstance(part, bytes) else part for part, cs in decode_header(v)
                )
            except (ValueError, LookupError):
                pass
        out[k] = v
    return out


def choose_part_size(size: int, part_size: int = DEFAULT_PART_SIZE) -> int:
    """The part size for an object of ``size`` bytes: ``part_size``, grown to stay within 10 000 parts."""
    need = -(-size // MAX_PARTS)
    need = -(-need // MiB) * MiB  # whole MiB
    return max(part_size, need, MIN_PART_SIZE)


class S3Store:
    """An :class:`~storage.base.ObjectStore` on an S3 bucket with Object Lock.

    Parameters
    ----------
    bucket : str
        Bucket name.
    endpoint_url, region : str, optional
        For MinIO or Ceph RGW give the endpoint; ``None`` means AWS (or ``AWS_ENDPOINT_URL``).
    path_style : bool
        Path-style addressing (``http://host/bucket/key``), needed by most MinIO and RGW setups.
    profile : str, optional
        AWS profile; otherwise boto3's standard chain (``AWS_ACCESS_KEY_ID``..., config files).
    prefix : str
        Prepended to every key, so one bucket can hold several installations.
    allow_unlocked : bool
        Accept a bucket without Object Lock (then nothing is write-once: :attr:`warning` says so).
    part_size, max_concurrency : int
        Multipart upload tuning; objects up to ``part_size`` go in one PUT.
    """

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        path_style: bool = False,
        profile: str | None = None,
        prefix: str = "",
        allow_unlocked: bool = False,
        part_size: int = DEFAULT_PART_SIZE,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        max_attempts: int = 5,
    ):
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self.path_style = path_style
        self.profile = profile
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if self.prefix:
            check_key(self.prefix.rstrip("/"))
        self.allow_unlocked = allow_unlocked
        self.part_size = part_size
        self.max_concurrency = max(1, max_concurrency)
        self.max_attempts = max_attempts
        self._client_obj: Any = None
        self._locked: bool | None = None

    # -- plumbing ----------------------------------------------------------------------------
    def __repr__(self) -> str:
        ep = safe_endpoint(self.endpoint_url) or "aws"
        return f"S3Store(bucket={self.bucket!r}, endpoint={ep!r}, prefix={self.prefix!r})"

    def __getstate__(self) -> dict:
        # the client (and the credentials it resolved) never travels; it is rebuilt on use
        state = self.__dict__.copy()
        state["_client_obj"] = None
        return state

    @property
    def client(self) -> Any:
        if self._client_obj is None:
            with _CLIENTS_LOCK:
                key = self._client_key()
                if key not in _CLIENTS:
                    _CLIENTS[key] = self._make_client()
                self._client_obj = _CLIENTS[key]
        return self._client_obj

    def _client_key(self) -> tuple:
        # Building a boto3 client costs ~0.1-0.3 s (service model, endpoint rules) and a cold
        # connection pool; flows open a store per task, so clients (thread-safe) are shared per
        # process. The credentials in the environment are part of the key only as a digest.
        creds = "\0".join(os.environ.get(v, "") for v in
                          ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"))
        return (self.profile, self.endpoint_url, self.region, self.path_style, self.max_attempts,
                self.max_concurrency, hashlib.sha256(creds.encode()).hexdigest())

    def _make_client(self) -> Any:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(profile_name=self.profile) if self.profile else boto3.session.Session()
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if self.path_style else "auto"},
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
            max_pool_connections=max(10, 2 * self.max_concurrency),
            connect_timeout=10,
            read_timeout=120,
            # we send Content-MD5 and SHA-256 ourselves; botocore's own CRC32 would be a third hash
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client = session.client("s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config)
        for op in ("PutObjectLockConfiguration", "PutObjectRetention", "PutObjectLegalHold",
                   "PutBucketLifecycleConfiguration"):
            client.meta.events.register(f"before-call.s3.{op}", _add_content_md5)
        _install_prehashed_signer(client)
        return client

    def _k(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _strip(self, full: str) -> str:
        return full[len(self.prefix) :]

    def _call(self, op: str, what: str, *, denied_is_lock: bool = False, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            return getattr(self.client, op)(Bucket=self.bucket, **kwargs)
        except ClientError as e:
            raise _map_client_error(e, what, denied_is_lock) from None
        except NoCredentialsError:
            raise StorageError(
                f"{what}: no S3 credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile)"
            ) from None
        except BotoCoreError as e:
            raise StorageError(f"{what}: {_scrub(str(e), self.endpoint_url)}") from None

    # -- the bucket --------------------------------------------------------------------------
    def lock_enabled(self) -> bool:
        """Whether the bucket has Object Lock (asked once, then remembered)."""
        if self._locked is None:
            try:
                cfg = self._call("get_object_lock_configuration", f"bucket {self.bucket!r}")
                self._locked = cfg.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
            except _LockConfigMissing:
                self._locked = False
        return self._locked

    @property
    def worm(self) -> bool:  # type: ignore[override]
        return self.lock_enabled()

    @property
    def warning(self) -> str | None:
        """A line every report must start with when records are not write-once here."""
        if self.lock_enabled():
            return None
        return (
            f"WARNING: bucket {self.bucket!r} has no S3 Object Lock (allow_unlocked): "
            "stored records are NOT write-once and can be deleted or overwritten."
        )

    def _check_bucket(self) -> bool:
        locked = self.lock_enabled()
        if not locked and not self.allow_unlocked:
            raise BucketNotLocked(
                f"bucket {self.bucket!r} has no Object Lock, so records there could be deleted or "
                "altered; create a locked bucket with `footage storage init`, or accept the risk "
                "explicitly with allow_unlocked (--allow-unlocked)"
            )
        return locked

    def init_bucket(self, default_retention_days: int | None = 30, mode: str = COMPLIANCE) -> dict[str, Any]:
        """Create the bucket with Object Lock (versioning on) and a default retention.

        An existing bucket is accepted when it has Object Lock (its default retention is then
        set), or without it only with ``allow_unlocked``. Returns what was done.
        """
        if mode not in MODES:
            raise StorageError(f"retention mode must be one of {MODES}, not {mode!r}")
        kwargs: dict[str, Any] = {"ObjectLockEnabledForBucket": True}
        if self.region and self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        # asked first: AWS us-east-1 and RGW answer 200 to creating a bucket one already owns
        try:
            self._call("head_bucket", f"bucket {self.bucket!r}")
            created = False
        except ObjectNotFound:
            created = True
        if created:
            try:
                self._call("create_bucket", f"create bucket {self.bucket!r}", **kwargs)
            except StorageError as e:
                if getattr(e, "code", None) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
                created = False
        self._locked = None
        result: dict[str, Any] = {
            "bucket": self.bucket,
            "endpoint": safe_endpoint(self.endpoint_url) or "aws",
            "created": created,
            "object_lock": self.lock_enabled(),
            "default_retention": None,
        }
        if not result["object_lock"]:
            self._check_bucket()
            result["warning"] = self.warning
            result["abort_incomplete_uploads_days"] = self._ensure_abort_rule()
            return result
        result["abort_incomplete_uploads_days"] = self._ensure_abort_rule()
        if default_retention_days:
            self._call(
                "put_object_lock_configuration",
                f"default retention of bucket {self.bucket!r}",
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": mode, "Days": int(default_retention_days)}},
                },
            )
            result["default_retention"] = {"mode": mode, "days": int(default_retention_days)}
        return result

    def _ensure_abort_rule(self, days: int = ABORT_UPLOADS_DAYS) -> int:
        """A lifecycle rule that aborts the incomplete multipart uploads under this store's prefix
        (a run killed mid-upload leaves its parts, stored and billed, invisible to listings):
        added to the bucket's rules (those already there are kept) unless one already covers the
        prefix, then read back. Returns the days after which the covering rule aborts."""
        what = f"lifecycle rules of bucket {self.bucket!r}"
        rules = self._lifecycle_rules(what)
        found = [r for r in rules if _aborts_under(r, self.prefix)]
        if not found:
            rule = {"ID": "footage-abort-incomplete-uploads" + (f"-{self.prefix.strip('/')}" if self.prefix else ""),
                    "Status": "Enabled", "Filter": {"Prefix": self.prefix},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days}}
            self._call("put_bucket_lifecycle_configuration", f"set {what}",
                       LifecycleConfiguration={"Rules": [_put_form(r) for r in rules] + [rule]})
            found = [r for r in self._lifecycle_rules(what) if _aborts_under(r, self.prefix)]
            if not found:
                raise StorageError(f"{what}: the rule that aborts incomplete uploads did not read back; "
                                   "uploads cut short would stay (and be billed) for ever")
        return min(int(r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]) for r in found)

    def _lifecycle_rules(self, what: str) -> list[dict[str, Any]]:
        try:
            return list(self._call("get_bucket_lifecycle_configuration", what).get("Rules", []))
        except StorageError as e:
            if getattr(e, "code", None) == "NoSuchLifecycleConfiguration":
                return []
            raise

    def probe_retention(self, key: str, until: datetime) -> dict[str, Any]:
        """Whether this server keeps a retain-until as far as ``until`` (what permanent records
        get): a small probe object under ``key``, locked in GOVERNANCE mode until ``until``, read
        back. The key is the same at every probe: later probes extend its lock (never shorten it),
        so it stays one object with one version. Raises :class:`RetentionShort` when the date
        reads back shorter (Ceph RGW 16 keeps dates as 32-bit seconds)."""
        info = self.put(key, PROBE_BODY, retain_until=until, mode=GOVERNANCE, content_type="text/plain")
        return {"key": key, "version_id": info.version_id, "asked": until.isoformat(),
                "held": info.retain_until.isoformat() if info.retain_until else None}

    # -- reading -----------------------------------------------------------------------------
    def _info(self, key: str, h: dict) -> ObjectInfo:
        meta = decode_metadata(h.get("Metadata") or {})
        sha = meta.pop(SHA256_META, None)
        return ObjectInfo(
            key=key,
            size=int(h.get("ContentLength", 0)),
            sha256=sha,
            metadata=meta,
            retain_until=_utc(h.get("ObjectLockRetainUntilDate")),
            mode=h.get("ObjectLockMode"),
            legal_hold=h.get("ObjectLockLegalHoldStatus") == "ON",
            version_id=h.get("VersionId"),
            last_modified=_utc(h.get("LastModified")),
        )

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo:
        extra = {"VersionId": version_id} if version_id else {}
        h = self._call("head_object", f"head {key!r}", Key=self._k(key), **extra)
        return self._info(key, h)

    def _head_or_none(self, key: str) -> ObjectInfo | None:
        try:
            return self.head(key)
        except ObjectNotFound:
            return None

    def exists(self, key: str) -> bool:
        return self._head_or_none(key) is not None

    def open(self, key: str, version_id: str | None = None) -> BinaryIO:
        extra = {"VersionId": version_id} if version_id else {}
        return self._call("get_object", f"get {key!r}", Key=self._k(key), **extra)["Body"]

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes:
        with self.open(key, version_id) as body:
            return body.read()

    def download(self, key: str, dest: Path, version_id: str | None = None) -> Path:
        dest = Path(dest)
        with self.open(key, version_id) as body, open(dest, "wb") as out:
            while chunk := body.read(CHUNK):
                out.write(chunk)
        return dest

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Current objects under ``prefix``, in key order (``sha256`` is not in a listing: None)."""
        paginator = self.client.get_paginator("list_objects_v2")
        from botocore.exceptions import ClientError

        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for o in page.get("Contents", []):
                    yield ObjectInfo(
                        key=self._strip(o["Key"]),
                        size=int(o["Size"]),
                        sha256=None,
                        last_modified=_utc(o.get("LastModified")),
                    )
        except ClientError as e:
            raise _map_client_error(e, f"list {prefix!r}", False) from None

    def versions(self, key: str) -> list[dict[str, Any]]:
        """Every version and delete marker of exactly ``key``, newest first.

        The listing is asked with the key (and the configured prefix) as its prefix, every page
        read, and only entries of exactly that key kept (``a.json`` is a prefix of
        ``a.json.bak``). The server lists the versions of a key newest first; the sort by
        ``last_modified`` (then ``is_latest``) is stable, so versions written within one
        timestamp keep the server's order.
        """
        full = self._k(key)
        return self._version_entries(full, f"versions of {key!r}").get(full, [])

    def list_versions(self, prefix: str = "") -> Iterator[dict[str, Any]]:
        """Every version and delete marker of every key under ``prefix`` (``ListObjectVersions``),
        keys in order, each key's entries newest first as :meth:`versions` sorts them; ``sha256``
        is not in a listing (None). A key hidden by a delete marker is here. The whole listing is
        read before the first entry is yielded (a key's entries may span pages)."""
        for full, entries in sorted(self._version_entries(self.prefix + prefix, f"list versions {prefix!r}").items()):
            key = self._strip(full)
            for e in entries:
                yield dict(e, key=key, sha256=None)

    def _version_entries(self, full_prefix: str, what: str) -> dict[str, list[dict[str, Any]]]:
        """Full key -> its versions and delete markers, newest first, from every page of
        ``ListObjectVersions`` under ``full_prefix`` (one key's entries may span pages)."""
        from botocore.exceptions import BotoCoreError, ClientError

        by_key: dict[str, list[dict[str, Any]]] = {}
        try:
            paginator = self.client.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
                for kind in ("Versions", "DeleteMarkers"):
                    for v in page.get(kind, []):
                        by_key.setdefault(v["Key"], []).append(
                            {"version_id": v["VersionId"], "delete_marker": kind == "DeleteMarkers",
                             "is_latest": v.get("IsLatest", False), "last_modified": _utc(v.get("LastModified")),
                             "size": v.get("Size")})
        except ClientError as e:
            raise _map_client_error(e, what, False) from None
        except BotoCoreError as e:
            raise StorageError(f"{what}: {_scrub(str(e), self.endpoint_url)}") from None
        far = datetime.min.replace(tzinfo=timezone.utc)
        for entries in by_key.values():
            # the latest first among entries of one timestamp (a version and a delete marker may share it)
            entries.sort(key=lambda v: (v["last_modified"] or far, v["is_latest"]), reverse=True)
        return by_key

    def verify(self, key: str, sha256: str, version_id: str | None = None) -> VerifyResult:
        """Stream the object back and re-hash it (never trusts an ETag or composite checksum)."""
        try:
            extra = {"VersionId": version_id} if version_id else {}
            r = self._call("get_object", f"verify {key!r}", Key=self._k(key), **extra)
        except ObjectNotFound:
            return VerifyResult(key=key, expected=sha256, actual=None, version_id=version_id)
        h = hashlib.sha256()
        n = 0
        with r["Body"] as body:
            while chunk := body.read(CHUNK):
                h.update(chunk)
                n += len(chunk)
        return VerifyResult(key=key, expected=sha256, actual=h.hexdigest(), size=n, version_id=r.get("VersionId"))

    # -- writing -----------------------------------------------------------------------------
    def put(
        self,
        key: str,
        source: Path | str | bytes,
        *,
        sha256: str | None = None,
        metadata: dict[str, str] | None = None,
        retain_until: datetime | None = None,
        mode: str = COMPLIANCE,
        legal_hold: bool = False,
        content_type: str | None = None,
    ) -> ObjectInfo:
        if mode not in MODES:
            raise StorageError(f"retention mode must be one of {MODES}, not {mode!r}")
        if retain_until is not None and retain_until.tzinfo is None:
            raise StorageError("retain_until must be timezone-aware")
        full = self._k(key)
        locked = self._check_bucket()
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            size = len(data)
            digest = hashlib.sha256(data).hexdigest()
            if sha256 is not None and digest != sha256:
                raise IntegrityError(f"content of {key!r} hashes to {digest}, expected {sha256}")
        else:
            data = None
            path = Path(source)
            size = path.stat().st_size
            digest = sha256 or sha256_file(path)
        # deterministic keys: the same content already there is the same record
        existing = self._head_or_none(key)
        if existing is not None:
            if existing.sha256 == digest:
                # a rerun whose record now needs more (a sidecar since, a setting fixed): the
                # lock is read back and raised to what this put asks, never lowered
                if locked:
                    existing = self._ensure_lock(key, existing, retain_until, mode, legal_hold)
                    self._check_retention(key, existing, retain_until)
                return existing
            if existing.legal_hold or (existing.retain_until and existing.retain_until > _now()):
                raise RetentionLocked(
                    f"cannot overwrite {key!r}: its current version is locked "
                    f"({'legal hold' if existing.legal_hold else f'{existing.mode} until {existing.retain_until}'})"
                )
        args: dict[str, Any] = {"Metadata": encode_metadata({**(metadata or {}), SHA256_META: digest})}
        if content_type:
            args["ContentType"] = content_type
        if locked:
            # stated on every put, even where a bucket default exists
            args["ObjectLockLegalHoldStatus"] = "ON" if legal_hold else "OFF"
            if retain_until is not None:
                args["ObjectLockMode"] = mode
                args["ObjectLockRetainUntilDate"] = retain_until
        # (an unlocked bucket, allowed explicitly, rejects lock headers: none are sent; `warning` says so)
        if data is not None and size <= self.part_size:
            version = self._put_single(key, full, data, digest, args)
        elif data is not None:
            version = self._put_multipart(key, full, _BytesChunks(data), size, digest, args)
        elif size <= self.part_size:
            data = path.read_bytes()
            actual = hashlib.sha256(data).hexdigest()
            if actual != digest:
                raise IntegrityError(f"content of {key!r} hashes to {actual}, expected {digest}")
            version = self._put_single(key, full, data, digest, args)
        else:
            with open(path, "rb") as f:
                version = self._put_multipart(key, full, f, size, digest, args)
        info = self.head(key, version)
        if info.size != size or info.sha256 != digest:
            raise IntegrityError(f"stored {key!r} reads back as {info.size} bytes / {info.sha256}, sent {size} / {digest}")
        if locked:
            info = self._ensure_lock(key, info, retain_until, mode, legal_hold)
            self._check_retention(key, info, retain_until)
        return info

    @staticmethod
    def _check_retention(key: str, info: ObjectInfo, asked: datetime | None) -> None:
        """The retention read back must be at least what was asked for.

        Ceph RGW 16 keeps retain-until dates as 32-bit seconds: 2199-12-31 comes back as
        2063-11-24 and no error is given. A record kept shorter than its rules demand is a
        failure, never a silent success (docs/storage.md).
        """
        if asked is None or (info.retain_until is not None and info.retain_until >= asked - timedelta(seconds=1)):
            return
        got = info.retain_until.isoformat() if info.retain_until else "none"
        hint = ""
        if asked.year >= 2106:
            hint = (" (this server seems to keep retain-until dates as 32-bit seconds, as Ceph RGW 16 does:"
                    " set storage.evidence_until before 2106-02-07)")
        raise RetentionShort(f"{key!r} is retained until {got}, shorter than the {asked.isoformat()} asked for{hint}")

    def _put_single(self, key: str, full: str, data: bytes, digest: str, args: dict[str, Any]) -> str | None:
        r = self._call(
            "put_object",
            f"put {key!r}",
            Key=full,
            Body=data,
            ContentMD5=_b64(hashlib.md5(data).digest()),
            ChecksumSHA256=_b64(bytes.fromhex(digest)),
            **args,
        )
        return r.get("VersionId")

    def _put_multipart(self, key: str, full: str, src: Any, size: int, digest: str, args: dict[str, Any]) -> str | None:
        part_size = choose_part_size(size, self.part_size)
        create = self._call(
            "create_multipart_upload", f"start upload of {key!r}", Key=full, ChecksumAlgorithm="SHA256", **args
        )
        upload_id = create["UploadId"]
        whole = hashlib.sha256()
        stop = threading.Event()
        # at most max_concurrency parts in flight plus one being read: memory stays bounded
        slots = threading.BoundedSemaphore(self.max_concurrency + 1)

        def send(number: int, chunk: bytes) -> dict[str, Any]:
            try:
                if stop.is_set():
                    raise _Cancelled("upload cancelled")
                sha = _b64(hashlib.sha256(chunk).digest())
                r = self._call(
                    "upload_part",
                    f"upload part {number} of {key!r}",
                    Key=full,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=chunk,
                    ContentMD5=_b64(hashlib.md5(chunk).digest()),
                    ChecksumSHA256=sha,
                )
                return {"PartNumber": number, "ETag": r["ETag"], "ChecksumSHA256": sha}
            except BaseException:
                stop.set()  # the reader stops feeding parts
                raise
            finally:
                slots.release()

        futures: list[Future] = []
        try:
            with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="s3-part") as pool:
                number = 0
                while True:
                    slots.acquire()
                    chunk = src.read(part_size)
                    if not chunk:
                        slots.release()
                        break
                    # the whole file's SHA-256, in order (a hasher thread of its own measured no faster)
                    whole.update(chunk)
                    number += 1
                    futures.append(pool.submit(send, number, chunk))
                    del chunk
                    if stop.is_set():
                        break
                wait(futures, return_when=FIRST_EXCEPTION)
                errors = [f.exception() for f in futures if f.done() and f.exception() is not None]
                real = [x for x in errors if not isinstance(x, _Cancelled)] or errors
                if real:
                    stop.set()
                    raise real[0]
                parts = [f.result() for f in futures]
            actual = whole.hexdigest()
            if actual != digest:
                raise IntegrityError(f"content of {key!r} hashes to {actual}, expected {digest}; upload aborted")
            r = self._call(
                "complete_multipart_upload",
                f"complete upload of {key!r}",
                Key=full,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
            return r.get("VersionId")
        except BaseException:
            stop.set()
            try:
                self._call("abort_multipart_upload", f"abort upload of {key!r}", Key=full, UploadId=upload_id)
            except StorageError:
                pass  # the bucket's lifecycle rule (or an operator) cleans up what is left
            raise

    def _ensure_lock(
        self, key: str, info: ObjectInfo, retain_until: datetime | None, mode: str, legal_hold: bool
    ) -> ObjectInfo:
        """Apply the requested lock where the server did not (RGW 16 ignores it on multipart)."""
        changed = False
        if retain_until is not None and (info.retain_until is None or info.retain_until < retain_until - timedelta(seconds=1)):
            # a COMPLIANCE default stays COMPLIANCE (it cannot be weakened); GOVERNANCE -> COMPLIANCE needs bypass
            new_mode = COMPLIANCE if info.mode == COMPLIANCE else mode
            self._set_retention(key, info, retain_until, new_mode, "set retention")
            changed = True
        if legal_hold and not info.legal_hold:
            self._call(
                "put_object_legal_hold",
                f"set legal hold of {key!r}",
                Key=self._k(key),
                VersionId=info.version_id,
                LegalHold={"Status": "ON"},
            )
            changed = True
        return self.head(key, info.version_id) if changed else info

    def extend_retention(self, key: str, until: datetime, version_id: str | None = None) -> ObjectInfo:
        """Move retain-until later; an earlier date is refused here, before the server is asked."""
        if until.tzinfo is None:
            raise StorageError("retention date must be timezone-aware")
        if not self._check_bucket():
            raise StorageError(f"bucket {self.bucket!r} has no Object Lock: there is no retention to extend")
        info = self.head(key, version_id)
        if info.retain_until and info.retain_until > until:
            raise RetentionLocked(
                f"retention of {key!r} is until {info.retain_until.isoformat()}; it can only be extended, "
                f"not shortened to {until.isoformat()}"
            )
        return self._set_retention(key, info, until, info.mode or COMPLIANCE, "extend retention")

    def _set_retention(self, key: str, info: ObjectInfo, until: datetime, mode: str, what: str) -> ObjectInfo:
        """PutObjectRetention on the version ``info`` names, read back; a retention the server
        then holds SHORTER than before is put back and refused.

        Ceph RGW 16 accepts a retain-until it cannot hold and keeps it modulo 2**32 seconds, even
        on a COMPLIANCE version: "extending" 2100-12-31 to 2199-12-31 leaves 2063-11-24
        (measured), a shorter lock its own rule would have refused. The earlier date is set again
        at once (an extension from the wrapped one, which the server allows) and
        :class:`RetentionShort` raised.
        """
        extra = {"BypassGovernanceRetention": True} if info.mode == GOVERNANCE and mode == COMPLIANCE else {}
        self._call("put_object_retention", f"{what} of {key!r}", denied_is_lock=True, Key=self._k(key),
                   VersionId=info.version_id, Retention={"Mode": mode, "RetainUntilDate": until}, **extra)
        after = self.head(key, info.version_id)
        before = info.retain_until
        if before is not None and (after.retain_until is None or after.retain_until < before):
            self._call("put_object_retention", f"restore retention of {key!r}", denied_is_lock=True,
                       Key=self._k(key), VersionId=info.version_id,
                       Retention={"Mode": after.mode or mode, "RetainUntilDate": before})
            self._check_retention(key, after, until)  # raises, naming the 32-bit limit where it applies
        return after

    def set_legal_hold(self, key: str, on: bool, version_id: str | None = None) -> ObjectInfo:
        if not self._check_bucket():
            raise StorageError(f"bucket {self.bucket!r} has no Object Lock: legal holds are not available")
        info = self.head(key, version_id)
        self._call(
            "put_object_legal_hold",
            f"set legal hold of {key!r}",
            denied_is_lock=True,
            Key=self._k(key),
            VersionId=info.version_id,
            LegalHold={"Status": "ON" if on else "OFF"},
        )
        return self.head(key, info.version_id)

    def delete(self, key: str, version_id: str | None = None, *, bypass_governance: bool = False) -> None:
        """Delete for good: one version, or every version of ``key`` newest first.

        Always by version id: a plain DELETE on a versioned bucket only adds a delete marker,
        which Object Lock allows, and the key would look gone while its bytes stay.
        """
        self._check_bucket()
        if version_id:
            targets = [version_id]
        else:
            targets = [v["version_id"] for v in self.versions(key)]
            if not targets:
                raise ObjectNotFound(f"no object {key!r} in bucket {self.bucket!r}")
        extra = {"BypassGovernanceRetention": True} if bypass_governance else {}
        for vid in targets:
            self._call(
                "delete_object", f"delete {key!r}", denied_is_lock=True, Key=self._k(key), VersionId=vid, **extra
            )


# -- helpers -----------------------------------------------------------------------------------
class _LockConfigMissing(StorageError):
    pass


def _rule_prefix(rule: dict[str, Any]) -> str | None:
    """The key prefix a lifecycle rule applies to (None: it filters on more than a prefix)."""
    flt = rule.get("Filter")
    if flt is None:
        return rule.get("Prefix", "")
    return flt.get("Prefix", "") if set(flt) <= {"Prefix"} else None


def _aborts_under(rule: dict[str, Any], prefix: str) -> bool:
    """Whether ``rule`` aborts the incomplete uploads of every key under ``prefix``."""
    covers = _rule_prefix(rule)
    return (rule.get("Status") == "Enabled" and "AbortIncompleteMultipartUpload" in rule
            and covers is not None and prefix.startswith(covers))


def _put_form(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule as read back, in the form a put takes (some servers answer the old top-level
    ``Prefix``, which must not be mixed with ``Filter`` rules in one configuration)."""
    rule = dict(rule)
    if "Filter" not in rule:
        rule["Filter"] = {"Prefix": rule.pop("Prefix", "")}
    return rule


class _Cancelled(StorageError):
    """A part not sent because another part already failed."""


class _BytesChunks:
    """``read(n)`` over bytes without copying the whole object again."""

    def __init__(self, data: bytes):
        self._view = memoryview(data)
        self._pos = 0

    def read(self, n: int) -> bytes:
        chunk = self._view[self._pos : self._pos + n]
        self._pos += len(chunk)
        return bytes(chunk)


_PAYLOAD_SHA256 = "footage_payload_sha256"
_SIGNER = "footage-s3v4"


def _install_prehashed_signer(client: Any) -> None:
    """Sign PutObject/UploadPart with the SHA-256 we already computed for x-amz-checksum-sha256.

    Over plain HTTP botocore hashes every body again for the SigV4 payload hash. Reusing our
    digest saves that pass, and the server checks it (``x-amz-content-sha256``) even where it
    ignores ``x-amz-checksum-sha256`` (Ceph RGW 16): a body that does not match is refused.
    """
    from botocore import auth

    if _SIGNER not in auth.AUTH_TYPE_MAPS:

        class PrehashedS3SigV4Auth(auth.S3SigV4Auth):
            def payload(self, request: Any) -> str:
                pre = request.context.get(_PAYLOAD_SHA256)
                if pre and not self._is_streaming_checksum_payload(request) and self._should_sha256_sign_payload(request):
                    return pre
                return super().payload(request)

        auth.AUTH_TYPE_MAPS[_SIGNER] = PrehashedS3SigV4Auth

    def remember(params: dict, context: dict, **_: Any) -> None:
        b64 = params.get("headers", {}).get("x-amz-checksum-sha256")
        if b64:
            context[_PAYLOAD_SHA256] = base64.b64decode(b64).hex()

    def choose(signature_version: Any, context: dict, **_: Any) -> str | None:
        if signature_version == "s3v4" and context.get(_PAYLOAD_SHA256):
            return _SIGNER
        return None

    for op in ("PutObject", "UploadPart"):
        client.meta.events.register(f"before-call.s3.{op}", remember)
        client.meta.events.register_first(f"choose-signer.s3.{op}", choose)


def _add_content_md5(params: dict, **_: Any) -> None:
    """Content-MD5 on the small lock-configuration bodies too (AWS requires an integrity header)."""
    body = params.get("body") or b""
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, (bytes, bytearray)):
        params["headers"]["Content-MD5"] = _b64(hashlib.md5(body).digest())


def _scrub(text: str, endpoint: str | None) -> str:
    if endpoint and safe_endpoint(endpoint) != endpoint:
        text = text.replace(endpoint, safe_endpoint(endpoint) or "")
    for var in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        secret = os.environ.get(var)
        if secret and secret in text:
            text = text.replace(secret, "***")
    return text


def _map_client_error(e: Any, what: str, denied_is_lock: bool) -> StorageError:
    err = e.response.get("Error", {}) if hasattr(e, "response") else {}
    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") if hasattr(e, "response") else None
    code = str(err.get("Code") or status or "error")
    message = err.get("Message") or ""
    text = f"{what}: {code}" + (f" ({_scrub(message, None)})" if message and message != code else "")
    cls: type[StorageError]
    if code in _NOT_FOUND:
        cls = ObjectNotFound
    elif code in _NO_LOCK_CONFIG:
        cls = _LockConfigMissing
    elif code in _DIGEST:
        cls = IntegrityError
        text += ": the server received different bytes than were sent"
    elif code == "AccessDenied" and denied_is_lock:
        cls = RetentionLocked
        text += ": refused by the server's Object Lock (retention or legal hold)"
    elif code == "NoSuchBucket":
        cls = StorageError
        text += ": the bucket does not exist (create it with `footage storage init`)"
    else:
        cls = StorageError
    out = cls(text)
    out.code = code  # type: ignore[attr-defined]
    out.status = status  # type: ignore[attr-defined]
    return out
