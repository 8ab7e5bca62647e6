"""Shared fixtures: the shared footage folder, an isolated FOOTAGE_HOME, Prefect's test harness."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Prefect defaults must be in place before any test imports Prefect.
import flows.prefect_env  # noqa: E402,F401


def shared_root() -> Path:
    return Path(os.environ.get("FOOTAGE_SHARED", ROOT.parent / "shared")).resolve()


@pytest.fixture(autouse=True)
def _restore_footage_env():
    """The CLI's callbacks set FOOTAGE_CONFIG (``--config``) and ``footage demo`` sets
    FOOTAGE_HOME in the process environment, as a command should; keep that inside each test."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("FOOTAGE_")}
    yield
    for key in [k for k in os.environ if k.startswith("FOOTAGE_") and k not in saved]:
        del os.environ[key]
    os.environ.update(saved)


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared material folder (FOOTAGE_SHARED, default ../shared); skips when absent."""
    root = shared_root()
    if not (root / "footage").is_dir():
        pytest.skip(f"shared footage not found at {root} (set FOOTAGE_SHARED)")
    return root


@pytest.fixture(scope="session")
def shared_video(shared: Path) -> Path:
    return shared / "footage" / "video"


@pytest.fixture(scope="session")
def shared_audio(shared: Path) -> Path:
    return shared / "footage" / "audio"


@pytest.fixture
def footage_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty FOOTAGE_HOME on the local backend with a short settle time; config file unset."""
    home = tmp_path / "home"
    monkeypatch.setenv("FOOTAGE_HOME", str(home))
    monkeypatch.delenv("FOOTAGE_CONFIG", raising=False)
    for key in list(os.environ):
        if key.startswith("FOOTAGE_") and key not in ("FOOTAGE_HOME", "FOOTAGE_SHARED"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("FOOTAGE_STORAGE__BACKEND", "local")
    monkeypatch.setenv("FOOTAGE_INGEST__SETTLE_SECONDS", "0.2")
    return home


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server (SQLite) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
