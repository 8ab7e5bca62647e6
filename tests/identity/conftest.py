"""Fixtures for the identity tests: real Ed25519 keys, and a footage.toml that registers them.

Users of the ``team`` fixture: arne (archivist), sven (supervisor), bea (archivist AND
supervisor), aud (auditor), each with a key of their own; old, written in the old
``NAME = [roles]`` form, without a key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def make_key(path: Path, comment: str = "test") -> str:
    """Write an unencrypted OpenSSH Ed25519 private key to ``path`` (0600) and its public key
    beside it; returns the public key line."""
    key = Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode() + f" {comment}"
    path.with_name(path.name + ".pub").write_text(public + "\n")
    return public


ROLES = {"arne": ["archivist"], "sven": ["supervisor"], "bea": ["archivist", "supervisor"], "aud": ["auditor"]}


def write_config(path: Path, public: dict[str, str], old: dict[str, list[str]] | None = None) -> None:
    """footage.toml with ``[users.NAME]`` tables (roles from :data:`ROLES`, keys from ``public``)
    and old-form users (``NAME = [roles]`` under ``[users]``)."""
    lines = []
    if old:
        lines.append("[users]")
        lines += [f"{name} = {roles!r}".replace("'", '"') for name, roles in old.items()]
    for name, roles in ROLES.items():
        lines += [f"[users.{name}]", f"roles = {roles!r}".replace("'", '"')]
        if name in public:
            lines.append(f'public_key = "{public[name]}"')
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def team(footage_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Multi-user mode from a real footage.toml; returns each user's private key path.

    HOME points into the test folder, so that no ~/.ssh/id_ed25519 of the machine is found.
    """
    keys = tmp_path / "keys"
    keys.mkdir()
    paths = {name: keys / f"{name}_ed25519" for name in ROLES}
    public = {name: make_key(p, f"{name}@test") for name, p in paths.items()}
    config = tmp_path / "footage.toml"
    write_config(config, public, old={"old": ["archivist", "supervisor"]})
    monkeypatch.setenv("FOOTAGE_CONFIG", str(config))
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    (footage_home).mkdir(parents=True, exist_ok=True)
    return paths
