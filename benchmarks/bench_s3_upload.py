"""Upload of a 256 MiB file: S3Store.put against plain boto3 ``upload_file``, same server, same run.

Goal: ratio (boto3 time / S3Store time) >= 0.9, although S3Store sends Content-MD5 and SHA-256
on every part, checks the whole file's SHA-256 before completing, and reads the lock back.

    S3_OBJECTSTORE=bluestore scripts/s3-test-server start    # memstore would keep GBs in RAM
    eval "$(scripts/s3-test-server env)"
    .venv/bin/pytest benchmarks/bench_s3_upload.py --benchmark-only -s     # ratio, pytest-benchmark
    .venv/bin/python benchmarks/bench_s3_upload.py --sweep                  # part size x concurrency

Needs FOOTAGE_TEST_S3_ENDPOINT (and AWS_* credentials); skipped without it. S3Store gets the
file's SHA-256 up front, as the ingest flow does (a record is named by it), and still re-hashes
the file while uploading. Objects go to a locked bucket without default retention (so the
benchmark can delete them); the extra cost over boto3 is the integrity work: Content-MD5 per
part (~0.35 CPU-s per 256 MiB), the whole file's SHA-256 (~0.15 CPU-s), the lock read-back.
Smoke mode (``FOOTAGE_BENCH_SMOKE=1``): 16 MiB, one round; the goal is not asserted (it never is).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smoke import SMOKE  # noqa: E402
from storage.s3 import DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, MiB, S3Store  # noqa: E402

SIZE = (16 if SMOKE else 256) * MiB
ENDPOINT = os.environ.get("FOOTAGE_TEST_S3_ENDPOINT")


def make_file(path: Path, size: int = SIZE) -> str:
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(8 * MiB, left))
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def plain_client():
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=ENDPOINT, config=Config(s3={"addressing_style": "path"}))


class Bench:
    """A bucket with Object Lock (no default retention, so benchmark objects can be removed)."""

    def __init__(self, path: Path, sha: str):
        self.path, self.sha = path, sha
        self.bucket = f"bench-{uuid.uuid4().hex[:10]}"
        self.client = plain_client()
        self._stores: dict = {}
        S3Store(self.bucket, endpoint_url=ENDPOINT, path_style=True).init_bucket(default_retention_days=None)

    def boto3_upload(self) -> float:
        key = f"boto3-{uuid.uuid4().hex}"
        t = time.perf_counter()
        self.client.upload_file(str(self.path), self.bucket, key)
        dt = time.perf_counter() - t
        self._drop(key)
        return dt

    def store_upload(self, part_size: int = DEFAULT_PART_SIZE, concurrency: int = DEFAULT_CONCURRENCY,
                     give_sha: bool = True) -> float:
        # one store per configuration, reused like the baseline's client (connections stay warm)
        store = self._stores.get((part_size, concurrency))
        if store is None:
            store = S3Store(self.bucket, endpoint_url=ENDPOINT, path_style=True, part_size=part_size,
                            max_concurrency=concurrency)
            store.lock_enabled()
            self._stores[(part_size, concurrency)] = store
        key = f"store-{uuid.uuid4().hex}"
        t = time.perf_counter()
        store.put(key, self.path, sha256=self.sha if give_sha else None)
        dt = time.perf_counter() - t
        self._drop(key)
        return dt

    def _drop(self, key: str) -> None:
        # memstore keeps objects in RAM: remove every version at once
        for v in self.client.list_object_versions(Bucket=self.bucket, Prefix=key).get("Versions", []):
            self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=v["VersionId"])


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    if not ENDPOINT:
        pytest.skip("FOOTAGE_TEST_S3_ENDPOINT is not set (start one: scripts/s3-test-server start)")
    path = tmp_path_factory.mktemp("bench") / "upload.bin"
    return Bench(path, make_file(path))


ROUNDS = 1 if SMOKE else 5


@pytest.mark.s3
def test_upload_s3store_vs_boto3(benchmark, bench):
    """pytest-benchmark times S3Store.put; the boto3 baseline runs as each round's setup, so
    the two alternate and share whatever else the machine is doing."""
    bench.boto3_upload(), bench.store_upload()  # warm-up: connections, page cache
    base: list[float] = []
    ours: list[float] = []

    def baseline():
        base.append(bench.boto3_upload())

    def target():
        ours.append(bench.store_upload())

    benchmark.pedantic(target, setup=baseline, rounds=ROUNDS, iterations=1)
    b, o = statistics.median(base), statistics.median(ours)
    ratio = b / o
    benchmark.extra_info.update({"boto3_upload_file_s": b, "s3store_put_s": o, "ratio": ratio, "goal": 0.9,
                                 "part_size_MiB": DEFAULT_PART_SIZE // MiB, "concurrency": DEFAULT_CONCURRENCY,
                                 "size_MiB": SIZE // MiB})
    print(f"\n{SIZE // MiB} MiB upload, median of {ROUNDS}: boto3 upload_file {b:.2f} s ({SIZE / MiB / b:.0f} MiB/s), "
          f"S3Store.put {o:.2f} s ({SIZE / MiB / o:.0f} MiB/s); ratio {ratio:.2f} (goal >= 0.9)")


def sweep(rounds: int, configs: list[tuple[int, int]]) -> None:
    """Interleave boto3 and S3Store at several part sizes and concurrencies; print medians."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.bin"
        b = Bench(path, make_file(path))
        b.boto3_upload()
        res: dict = {"boto3": []}
        for _ in range(rounds):
            for p, c in configs:
                res["boto3"].append(b.boto3_upload())  # the baseline between every config
                res.setdefault((p, c), []).append(b.store_upload(p * MiB, c))
            res.setdefault("no-sha", []).append(b.store_upload(give_sha=False))
        base = statistics.median(res["boto3"])
        print(f"boto3 upload_file: {base:.2f} s  {SIZE / MiB / base:.0f} MiB/s")
        for k, v in res.items():
            if k == "boto3":
                continue
            m = statistics.median(v)
            name = f"part {k[0]:>2} MiB x {k[1]}" if isinstance(k, tuple) else f"{k} (defaults, sha256 computed first)"
            print(f"S3Store {name}: {m:.2f} s  {SIZE / MiB / m:.0f} MiB/s  ratio {base / m:.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--parts", default="8x8,16x4,32x4,64x4", help="MiBxConcurrency,...")
    a = ap.parse_args()
    if not ENDPOINT:
        sys.exit("FOOTAGE_TEST_S3_ENDPOINT is not set (eval \"$(scripts/s3-test-server start)\")")
    sweep(a.rounds, [tuple(int(x) for x in c.split("x")) for c in a.parts.split(",")])
