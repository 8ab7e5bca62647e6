"""User commands: ``footage user keygen|show``, the keys that sign role-gated inputs.

``keygen`` writes an OpenSSH Ed25519 key pair (the private half readable by its owner only) and
prints the ``[users.NAME]`` lines to paste into ``footage.toml``; ``show`` says what a user may do:
their roles, their registered key's fingerprint (``SHA256:...``, as ``ssh-keygen -l`` prints it)
and whether they can sign role-gated inputs (records/identity.py, docs/cli.md "Identity").

:mod:`records.identity` (cryptography) and :mod:`records.settings` are imported inside the
commands: see :mod:`flows.cli.common`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from flows.cli.common import err, fail, load_settings, out, print_json
from records.roles import acting_user

user_app = typer.Typer(help="Users' signing keys: make one, show what a user may do.", no_args_is_help=True)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (never readable by others, even briefly);
    an existing file is never overwritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)  # the umask may have taken bits away from the requested mode


@user_app.command("keygen")
def keygen(
    name: Optional[str] = typer.Argument(None, help="The user (default: $FOOTAGE_USER, else the OS user)."),
    out_path: Optional[Path] = typer.Option(None, "--out", help="Private key file (default: ~/.ssh/id_ed25519); "
                                            "the public key goes beside it as PATH.pub."),
) -> None:
    """Write an OpenSSH Ed25519 key pair (private key 0600) and print the [users.NAME] lines for
    footage.toml. The key is encrypted with $FOOTAGE_KEY_PASSPHRASE when that is set."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from records.identity import ENV_PASSPHRASE, fingerprint, openssh_public

    user = acting_user(name)
    path = (out_path or Path("~/.ssh/id_ed25519")).expanduser()
    pub_path = path.with_name(path.name + ".pub")
    for p in (path, pub_path):
        if p.exists():
            fail(f"{p} exists and is left as it is: register its public key as it is "
                 f"(`footage user show` after pasting it), or choose another file with --out")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    passphrase = os.environ.get(ENV_PASSPHRASE)
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption)
    public = f"{openssh_public(key.public_key())} {user}@footage"
    _write_new(path, private, 0o600)
    _write_new(pub_path, (public + "\n").encode(), 0o644)
    settings = load_settings()
    entry = settings.users.get(user)
    roles = json.dumps([r.value for r in entry.roles]) if entry else '[]  # operator, archivist, supervisor, auditor'
    err.print(f"wrote {path} (0600{', encrypted' if passphrase else ''}) and {pub_path}; "
              f"fingerprint {fingerprint(key.public_key())}", highlight=False)
    err.print("paste into footage.toml:", highlight=False)
    print(f"[users.{_toml_key(user)}]\nroles = {roles}\npublic_key = \"{public}\"")


def _toml_key(name: str) -> str:
    """A TOML table key: bare when it can be, quoted otherwise (names with spaces, Chinese names)."""
    bare = name and all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
    return name if bare else json.dumps(name, ensure_ascii=False)


@user_app.command("show")
def show(
    name: Optional[str] = typer.Argument(None, help="The user (default: $FOOTAGE_USER, else the OS user)."),
    show_all: bool = typer.Option(False, "--all", help="Every configured user."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A user's roles, key fingerprint and whether they can sign role-gated inputs."""
    from records.identity import key_status

    settings = load_settings()
    names = sorted(settings.users) if show_all else [acting_user(name)]
    rows = [key_status(settings, n) for n in names]
    if as_json:
        print_json([r.to_json_dict() for r in rows] if show_all else rows[0].to_json_dict())
        return
    t = Table("user", "roles", "can sign", "note")
    t.add_column("key", overflow="fold", no_wrap=False, min_width=51)  # SHA256: and 43 characters, whole
    for r in rows:
        t.add_row(r.user, ", ".join(r.roles) or "none", "yes" if r.can_sign else "no", r.note or "",
                  r.fingerprint or "none")
    out.print(t)
