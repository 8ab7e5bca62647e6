"""Proven identity: role-gated inputs signed with the user's Ed25519 key, verified before they act.

Open-source Prefect has no user identity, so a typed name (``--as``, ``FOOTAGE_USER``, a UI form)
proves nothing. In multi-user mode every role-gated input (:data:`records.roles.SIGNED_ACTIONS`)
carries a signature of its user over a canonical payload, checked against the public key
registered for that user in ``footage.toml``::

    [users.sven]
    roles = ["supervisor"]
    public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... sven@laptop"

Single-user mode (no users configured) asks for no signature and stays as it was.

The payload (:func:`canonical_payload`) is deterministic JSON (sorted keys, no spaces, UTF-8)
over the action, the record, the run id and pause key (disclosure steps), the input's content,
the time it was signed and the user. The signature is an OpenSSH *SSHSIG* signature in the
``footage`` namespace (PROTOCOL.sshsig in OpenSSH's sources), the format of
``ssh-keygen -Y sign -n footage``: a signature can therefore be made by Footage from a key file
(:func:`sign`), by ``ssh-keygen`` through ``ssh-agent`` (a ``--key`` naming a ``.pub`` file, or a
private key whose passphrase is not in ``FOOTAGE_KEY_PASSPHRASE``), and checked by anyone with
``ssh-keygen -Y verify``, without Footage. ``cryptography`` reads OpenSSH keys and does the
Ed25519 arithmetic but has no SSHSIG support, so the envelope (a few length-prefixed strings) is
built and read here.

:func:`verify_input` refuses a missing signature, one by another key than the user's registered
one, one over other content (tampered), one signed outside ``identity.clock_skew_s`` of now
(stale), and one already used (replayed: the audit log of that window is searched); each refusal
is a ``signature_refused`` audit event. The proof it returns goes under ``detail["proof"]`` of
the audit event of the action, and ``footage audit verify`` re-checks every such proof
(:class:`ProofCheck`) against the key that was registered for its user when it was made: each
user's key is written to the audit log (a ``user_key`` event) the first time it signs and
whenever it changes, so a rotated key leaves the old signatures verifiable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from records.audit import open_audit
from records.keys import user_key_key, user_keys_prefix
from records.contract import Contract
from records.roles import Refused, single_user_mode

if TYPE_CHECKING:
    from records.settings import Settings
    from storage import ObjectStore

__all__ = [
    "Refused", "signed_fields", "verify_input", "default_key_path", "canonical_payload", "sign",
    "verify_signature", "fingerprint", "check_proof", "ProofCheck", "register_key", "key_status", "KeyStatus",
]

#: The SSHSIG namespace of every Footage signature (``ssh-keygen -Y sign -n footage``).
NAMESPACE = "footage"
PAYLOAD_FORMAT = "footage-input/1"
ENV_KEY = "FOOTAGE_KEY"
ENV_PASSPHRASE = "FOOTAGE_KEY_PASSPHRASE"
#: Audit event kinds written here.
KEY_EVENT = "user_key"
REFUSED_EVENT = "signature_refused"

_MAGIC = b"SSHSIG"
_ARMOR_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_ARMOR_END = "-----END SSH SIGNATURE-----"


# -- keys -------------------------------------------------------------------------------------------
def default_key_path() -> Path | None:
    """The ``--key`` default: ``FOOTAGE_KEY``, then ``~/.ssh/id_ed25519`` when it exists."""
    env = os.environ.get(ENV_KEY, "").strip()
    if env:
        return Path(env).expanduser()
    home = Path("~/.ssh/id_ed25519").expanduser()
    return home if home.exists() else None


def parse_public_key(text: str) -> Ed25519PublicKey:
    """An OpenSSH one-line public key (``ssh-ed25519 AAAA... comment``); ValueError otherwise."""
    try:
        key = serialization.load_ssh_public_key(text.strip().encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not an OpenSSH public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("only ssh-ed25519 keys are accepted")
    return key


def openssh_public(key: Ed25519PublicKey) -> str:
    """``ssh-ed25519 AAAA...`` (no comment): the form kept in the audit log."""
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def fingerprint(key: Ed25519PublicKey | str) -> str:
    """``SHA256:...``, as ``ssh-keygen -l`` prints it."""
    if isinstance(key, str):
        key = parse_public_key(key)
    digest = serialization.ssh_key_fingerprint(key, hashes.SHA256())
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def load_private_key(path: Path) -> Ed25519PrivateKey | None:
    """The Ed25519 key in an OpenSSH private key file, or None when it is encrypted and
    ``FOOTAGE_KEY_PASSPHRASE`` is unset (the agent may hold it). Raises :class:`Refused` for a
    file that is not an Ed25519 private key, or a wrong passphrase."""
    data = path.read_bytes()
    passphrase = os.environ.get(ENV_PASSPHRASE)
    try:
        key = serialization.load_ssh_private_key(data, passphrase.encode() if passphrase else None)
    except TypeError:
        if not passphrase:  # encrypted, no passphrase given
            return None
        # a passphrase set for another key, and this one is not encrypted
        key = serialization.load_ssh_private_key(data, None)
    except (ValueError, UnsupportedAlgorithm) as exc:
        hint = f" (is {ENV_PASSPHRASE} right?)" if passphrase else ""
        raise Refused(f"cannot read the private key {path}: {exc}{hint}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise Refused(f"{path} is not an Ed25519 key: Footage signs with ssh-ed25519 keys only")
    return key


# -- the payload ------------------------------------------------------------------------------------
def canonical_payload(
    *, action: str, record: str | None, run_id: str | None, pause_key: str | None,
    content: dict[str, Any], signed_at: str, user: str,
) -> bytes:
    """The bytes a user signs: deterministic JSON (sorted keys, no spaces, UTF-8)."""
    return canonical_json(payload_dict(action=action, record=record, run_id=run_id, pause_key=pause_key,
                                      content=content, signed_at=signed_at, user=user))


def payload_dict(
    *, action: str, record: str | None, run_id: str | None, pause_key: str | None,
    content: dict[str, Any], signed_at: str, user: str,
) -> dict[str, Any]:
    return {"format": PAYLOAD_FORMAT, "action": action, "record": record, "run_id": run_id,
            "pause_key": pause_key, "content": content, "signed_at": signed_at, "user": user}


def canonical_json(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# -- SSHSIG (PROTOCOL.sshsig) -------------------------------------------------------------------------
def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(buf):
        raise ValueError("truncated signature")
    (n,) = struct.unpack(">I", buf[pos:pos + 4])
    if pos + 4 + n > len(buf):
        raise ValueError("truncated signature")
    return buf[pos + 4:pos + 4 + n], pos + 4 + n


def _signed_data(message: bytes, hash_alg: str) -> bytes:
    digest = hashlib.new(hash_alg, message).digest()
    return _MAGIC + _string(NAMESPACE.encode()) + _string(b"") + _string(hash_alg.encode()) + _string(digest)


def _public_blob(key: Ed25519PublicKey) -> bytes:
    return base64.b64decode(openssh_public(key).split()[1])


def normalize_signature(text: str) -> str:
    """The signature's base64 body, armour and line breaks removed (how it is kept and compared)."""
    body = text.strip()
    if body.startswith(_ARMOR_BEGIN):
        body = body[len(_ARMOR_BEGIN):]
        body = body[: body.find(_ARMOR_END)] if _ARMOR_END in body else body
    return "".join(body.split())


def armored(signature: str) -> str:
    """The ``-----BEGIN SSH SIGNATURE-----`` form ``ssh-keygen -Y verify`` reads."""
    body = normalize_signature(signature)
    lines = [body[i:i + 70] for i in range(0, len(body), 70)]
    return "\n".join([_ARMOR_BEGIN, *lines, _ARMOR_END]) + "\n"


def sshsig_sign(key: Ed25519PrivateKey, message: bytes) -> str:
    """An SSHSIG signature of ``message`` in the ``footage`` namespace (base64 body)."""
    raw = key.sign(_signed_data(message, "sha512"))
    blob = (_MAGIC + struct.pack(">I", 1) + _string(_public_blob(key.public_key())) + _string(NAMESPACE.encode())
            + _string(b"") + _string(b"sha512") + _string(_string(b"ssh-ed25519") + _string(raw)))
    return base64.b64encode(blob).decode()


def parse_sshsig(signature: str) -> tuple[Ed25519PublicKey, str, str, bytes]:
    """(signing key, namespace, hash algorithm, raw Ed25519 signature); ValueError when malformed."""
    try:
        blob = base64.b64decode(normalize_signature(signature), validate=True)
    except ValueError:
        raise ValueError("the signature is not base64") from None
    if not blob.startswith(_MAGIC) or len(blob) < 10:
        raise ValueError("not an SSH signature (no SSHSIG preamble)")
    (version,) = struct.unpack(">I", blob[6:10])
    if version != 1:
        raise ValueError(f"SSHSIG version {version} is not supported")
    pub, pos = _read_string(blob, 10)
    namespace, pos = _read_string(blob, pos)
    _reserved, pos = _read_string(blob, pos)
    hash_alg, pos = _read_string(blob, pos)
    sig, pos = _read_string(blob, pos)
    kind, p = _read_string(pub, 0)
    raw_pub, _ = _read_string(pub, p)
    sig_kind, p = _read_string(sig, 0)
    raw_sig, _ = _read_string(sig, p)
    if kind != b"ssh-ed25519" or sig_kind != b"ssh-ed25519":
        raise ValueError(f"only ssh-ed25519 signatures are accepted, not {kind.decode(errors='replace')}")
    if hash_alg not in (b"sha256", b"sha512"):
        raise ValueError(f"hash algorithm {hash_alg.decode(errors='replace')} is not allowed")
    return Ed25519PublicKey.from_public_bytes(raw_pub), namespace.decode(errors="replace"), hash_alg.decode(), raw_sig


def verify_signature(public_key: Ed25519PublicKey | str, signature: str, message: bytes) -> str | None:
    """None when ``signature`` is a valid ``footage`` SSHSIG of ``message`` by ``public_key``;
    otherwise why not, in words."""
    if isinstance(public_key, str):
        public_key = parse_public_key(public_key)
    try:
        signer, namespace, hash_alg, raw = parse_sshsig(signature)
    except ValueError as exc:
        return f"the signature cannot be read: {exc}"
    if namespace != NAMESPACE:
        return f"the signature is for the namespace {namespace!r}, not {NAMESPACE!r}"
    if _public_blob(signer) != _public_blob(public_key):
        return f"signed with the key {fingerprint(signer)}, not the registered key {fingerprint(public_key)}"
    try:
        public_key.verify(raw, _signed_data(message, hash_alg))
    except InvalidSignature:
        return "the signature does not match the input (changed after it was signed, or signed for another input)"
    return None


# -- signing ----------------------------------------------------------------------------------------
def sign(message: bytes, key_path: str | Path) -> str:
    """An SSHSIG signature (base64 body) of ``message`` with the key at ``key_path``.

    A private key file is used directly (its passphrase, if any, from ``FOOTAGE_KEY_PASSPHRASE``).
    A ``.pub`` file, or an encrypted private key without that variable, is signed by
    ``ssh-keygen -Y sign`` with the private half held by ``ssh-agent`` (``SSH_AUTH_SOCK``).
    Raises :class:`Refused` when no signature can be made.
    """
    path = Path(key_path).expanduser()
    if not path.is_file():
        raise Refused(f"no key file at {path} (--key PATH, or set {ENV_KEY}; `footage user keygen` makes one)")
    if path.suffix != ".pub":
        key = load_private_key(path)
        if key is not None:
            return sshsig_sign(key, message)
        pub = path.with_name(path.name + ".pub")
        if not (os.environ.get("SSH_AUTH_SOCK") and pub.is_file()):
            raise Refused(f"the key {path} is encrypted: set {ENV_PASSPHRASE}, or add it to ssh-agent "
                          f"(with {pub.name} beside it)")
        path = pub
    return _agent_sign(message, path)


def _agent_sign(message: bytes, public_path: Path) -> str:
    """Sign through ssh-agent: ``ssh-keygen -Y sign -f KEY.pub -n footage`` reads the message on
    standard input and uses the agent's private half of that public key."""
    tool = shutil.which("ssh-keygen")
    if tool is None:
        raise Refused(f"{public_path} is a public key: signing through ssh-agent needs ssh-keygen (openssh-client)")
    if not os.environ.get("SSH_AUTH_SOCK"):
        raise Refused(f"{public_path} is a public key and no ssh-agent is running (SSH_AUTH_SOCK unset)")
    done = subprocess.run([tool, "-Y", "sign", "-q", "-f", str(public_path), "-n", NAMESPACE],
                          input=message, capture_output=True, timeout=60)
    if done.returncode != 0 or _ARMOR_BEGIN.encode() not in done.stdout:
        why = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
        raise Refused(f"ssh-agent could not sign with {public_path}: {why}")
    return normalize_signature(done.stdout.decode())


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat()


def signed_fields(
    settings: Settings, *, key_path: str | Path | None, user: str, action: str, record: str | None,
    run_id: str | None, pause_key: str | None, content: dict[str, Any],
) -> dict[str, Any]:
    """What a client attaches to an input: ``{"user", "signed_at", "signature", "key_fingerprint"}``;
    ``{}`` in single-user mode.

    Raises :class:`Refused` when no signature can be made (no key file, an encrypted key without
    passphrase or agent, not an Ed25519 key).
    """
    if single_user_mode(settings):
        return {}
    path = Path(key_path).expanduser() if key_path else default_key_path()
    if path is None:
        raise Refused(f"{user} must sign this input and no key was given (--key PATH, {ENV_KEY}, "
                      "or ~/.ssh/id_ed25519)")
    signed_at = now_utc()
    message = canonical_payload(action=action, record=record, run_id=run_id, pause_key=pause_key,
                                content=content, signed_at=signed_at, user=user)
    signature = sign(message, path)
    signer, *_ = parse_sshsig(signature)
    return {"user": user, "signed_at": signed_at, "signature": signature, "key_fingerprint": fingerprint(signer)}


# -- verifying --------------------------------------------------------------------------------------
def verify_input(
    settings: Settings, store: ObjectStore, *, user: str, action: str, record: str | None,
    run_id: str | None, pause_key: str | None, content: dict[str, Any], signed_at: str | None,
    signature: str | None, via: str = "cli",
) -> dict[str, Any]:
    """Check a signed input before acting on it: that ``user`` signed exactly this input, now.

    The user's roles are checked separately (:func:`records.roles.require_action` or
    :func:`records.roles.may`), before this.

    Returns
    -------
    dict
        The proof to keep under ``detail["proof"]`` of the action's audit event: ``signature``,
        ``signed_at``, ``key_fingerprint``, ``payload`` and ``payload_sha256``, ``via``.
        ``{}`` in single-user mode. An unsigned input typed in the Prefect UI (``via="ui"``)
        with ``disclosure.trust_ui_input`` on returns ``{"unsigned": True, "trusted":
        "disclosure.trust_ui_input", "via": "ui"}``: receipts and reports must say so.

    Raises
    ------
    Refused
        A missing, unreadable, wrong, stale or replayed signature, or a user without a
        registered key; the refusal is written to the audit log first (``signature_refused``).
    """
    if single_user_mode(settings):
        return {}

    def refuse(why: str) -> Refused:
        open_audit(settings, store).append(
            REFUSED_EVENT, user=user or "unknown", record=record,
            detail={"action": action, "run_id": run_id, "pause_key": pause_key, "via": via, "why": why},
        )
        return Refused(f"{action} refused for {user}: {why}")

    entry = settings.users.get(user)
    if entry is None:
        raise refuse(f"{user!r} is not a configured user ([users.{user}] in footage.toml)")
    if not signature:
        if via == "ui" and settings.disclosure.trust_ui_input:
            return {"unsigned": True, "trusted": "disclosure.trust_ui_input", "via": via}
        if not entry.public_key:
            raise refuse(f"no public_key is registered for {user} ([users.{user}] public_key = \"ssh-ed25519 ...\"; "
                         "`footage user keygen` makes a key), so their inputs cannot be signed")
        if via == "ui":
            raise refuse("the form input is not signed: unsigned input typed in the UI is refused unless "
                         "disclosure.trust_ui_input = true (sign it with `footage disclose ... --key PATH`)")
        raise refuse("the input is not signed (sign it with --key PATH)")
    if not entry.public_key:
        raise refuse(f"no public_key is registered for {user}, so the signature cannot be checked")
    try:
        registered = parse_public_key(entry.public_key)
    except ValueError as exc:
        raise refuse(f"the public_key registered for {user} is unusable: {exc}") from None
    if not signed_at:
        raise refuse("the signature has no signing time (signed_at)")
    try:
        when = datetime.fromisoformat(signed_at)
    except ValueError:
        raise refuse(f"signed_at {signed_at!r} is not an ISO time") from None
    if when.tzinfo is None:
        raise refuse(f"signed_at {signed_at!r} has no UTC offset")
    skew = timedelta(seconds=settings.identity.clock_skew_s)
    now = datetime.now(timezone.utc)
    if abs(now - when) > skew:
        raise refuse(f"the signature is stale: signed at {signed_at}, {abs(now - when).total_seconds():.0f} s "
                     f"from now, outside identity.clock_skew_s = {skew.total_seconds():.0f} s (sign again)")
    payload = payload_dict(action=action, record=record, run_id=run_id, pause_key=pause_key, content=content,
                           signed_at=signed_at, user=user)
    message = canonical_json(payload)
    why = verify_signature(registered, signature, message)
    if why:
        raise refuse(why)
    body = normalize_signature(signature)
    if _used(settings, store, body, when - 2 * skew):
        raise refuse("this signature was already used (a replayed input): sign the input again")
    register_key(settings, store, user, registered)
    return {"signature": body, "signed_at": signed_at, "key_fingerprint": fingerprint(registered),
            "payload": payload, "payload_sha256": hashlib.sha256(message).hexdigest(), "via": via}


def _used(settings: Settings, store: ObjectStore, signature: str, since: datetime) -> bool:
    """True when an audit event written since ``since`` holds this signature in its proof. A
    signature still fresh now was accepted, if ever, within the skew window of its signing time,
    so only the segments written since then are read."""
    for e in open_audit(settings, store).events_written_since(since):
        proof = (e.get("detail") or {}).get("proof")
        if isinstance(proof, dict) and proof.get("signature") == signature:
            return True
    return False


def register_key(settings: Settings, store: ObjectStore, user: str, key: Ed25519PublicKey) -> bool:
    """Write a ``user_key`` audit event when ``key`` is not the key last noted for ``user`` (first
    seen, or rotated); True when one was written. The audit event is the record ``audit verify``
    reads; an object under ``identity/`` notes it so that this check lists one short prefix
    instead of reading the whole log."""
    fp = fingerprint(key)
    fp_hex = serialization.ssh_key_fingerprint(key, hashes.SHA256()).hex()
    noted = sorted(o.key for o in store.list(user_keys_prefix(user)))
    previous = noted[-1].rsplit("-", 1)[-1].removesuffix(".json") if noted else None
    if previous == fp_hex:
        return False
    audit = open_audit(settings, store)
    detail = {"public_key": openssh_public(key), "fingerprint": fp,
              "previous": _fp_of_hex(previous) if previous else None}
    audit.append(KEY_EVENT, user=user, detail=detail)
    now = datetime.now(timezone.utc)
    body = canonical_json({"user": user, "at": now.isoformat(), **detail})
    store.put(user_key_key(user, fp_hex, now), body, retain_until=audit.retain_until, mode=audit.mode,
              content_type="application/json")
    return True


def _fp_of_hex(fp_hex: str) -> str:
    return "SHA256:" + base64.b64encode(bytes.fromhex(fp_hex)).decode().rstrip("=")


def check_proof(proof: dict[str, Any], registered: str | None, user: str, record: str | None) -> str | None:
    """Re-check a proof kept in an audit event (``footage audit verify``): None when it holds,
    else why not. ``registered`` is the key noted for ``user`` before that event."""
    payload = proof.get("payload")
    if not isinstance(payload, dict):
        return "signed event without its payload"
    message = canonical_json(payload)
    if hashlib.sha256(message).hexdigest() != proof.get("payload_sha256"):
        return "the signed payload does not match its recorded SHA-256 (changed after it was signed)"
    if payload.get("user") != user:
        return f"the payload was signed by {payload.get('user')!r}, the event names {user!r}"
    if record is not None and payload.get("record") not in (None, record):
        return f"the payload was signed for record {payload.get('record')}, the event is about {record}"
    if not registered:
        return f"no key was registered for {user} before this signed event (no user_key event)"
    try:
        key = parse_public_key(registered)
    except ValueError as exc:
        return f"the key registered for {user} at the time cannot be read: {exc}"
    if proof.get("key_fingerprint") != fingerprint(key):
        return (f"signed with {proof.get('key_fingerprint')}, but the key registered for {user} at the time "
                f"was {fingerprint(key)}")
    why = verify_signature(key, str(proof.get("signature") or ""), message)
    return f"signature of {user}: {why}" if why else None


class ProofCheck:
    """The signature check of :meth:`records.audit.AuditLog.verify` (``check=ProofCheck()``): fed
    every event of the chain in order, it notes each user's key from the ``user_key`` events and
    checks every signed event (a ``proof`` with a signature in its detail) against the key
    registered for its user before it (:func:`check_proof`). One instance per verification."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}  # user -> public key registered at this point of the chain

    def __call__(self, event: dict[str, Any]) -> str | None:
        detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
        user = str(event.get("user"))
        if event.get("kind") == KEY_EVENT and detail.get("public_key"):
            self.keys[user] = detail["public_key"]
        proof = detail.get("proof")
        if isinstance(proof, dict) and proof.get("signature"):
            why = check_proof(proof, self.keys.get(user), user, event.get("record"))
            if why:
                return f"signed {event.get('kind')} event does not verify: {why}"
        return None


# -- for `footage user show` ------------------------------------------------------------------------
class KeyStatus(Contract):
    """What a user may sign (``footage user show --json``): configured or not, roles, the
    registered key and its fingerprint, whether they can sign role-gated inputs, and why not."""

    user: str
    configured: bool
    roles: list[str]
    public_key: str | None = None
    fingerprint: str | None = None
    can_sign: bool
    note: str | None = None


def key_status(settings: Settings, user: str) -> KeyStatus:
    """A user's roles, key fingerprint and whether they can sign role-gated inputs."""
    entry = settings.users.get(user)
    if single_user_mode(settings):
        return KeyStatus(user=user, configured=False, roles=["every role (single-user mode)"], can_sign=True,
                         note="single-user mode: no users are configured and inputs need no signature")
    if entry is None:
        return KeyStatus(user=user, configured=False, roles=[], can_sign=False,
                         note=f"{user} is not in [users] of footage.toml")
    fp, note = None, None
    if entry.public_key:
        try:
            fp = fingerprint(entry.public_key)
        except ValueError as exc:
            note = f"public_key unusable: {exc}"
    else:
        note = "no public_key: role-gated inputs of this user are refused (`footage user keygen`)"
    return KeyStatus(user=user, configured=True, roles=sorted(r.value for r in entry.roles),
                     public_key=entry.public_key, fingerprint=fp, can_sign=fp is not None, note=note)
