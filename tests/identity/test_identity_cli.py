"""Signed role-gated commands through the command line (Typer's CliRunner), real keys, real
ssh-keygen and ssh-agent where the machine has them; key rotation and forgeries against
``footage audit verify``."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from records.audit import open_audit
from records.history import record_events
from records.identity import armored, canonical_json, fingerprint, sign
from records.settings import load_settings
from records.store import open_store

from tests.identity.conftest import ROLES, make_key, write_config

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen not installed (Debian: openssh-client)")


class _Said:
    """A CliRunner result whose ``output`` has Rich's line wrapping undone (messages are long)."""

    def __init__(self, result):
        self.exit_code, self.stdout, self.result = result.exit_code, result.stdout, result
        self.output = " ".join(result.output.split())


def run(*args: str) -> _Said:
    return _Said(CliRunner().invoke(app, [str(a) for a in args]))


def _log():
    settings = load_settings()
    return open_audit(settings, open_store(settings))


def _close(user: str, key, case: str = "C-1", day: str = "2026-10-01"):
    return run("case", "close", case, "--date", day, "--as", user, "--key", key)


def _public(path: Path) -> str:
    return path.with_name(path.name + ".pub").read_text().strip()


def _verify_cli():
    return run("audit", "verify", "--as", "aud", "--json")


# -- signing and verifying ------------------------------------------------------------------------------
def test_signed_case_close_is_audited_with_its_proof(team):
    r = _close("arne", team["arne"])
    assert r.exit_code == 0, r.output
    events = _log().events()
    assert [(e["kind"], e["user"]) for e in events] == [("user_key", "arne"), ("case_closed", "arne")]
    proof = events[1]["detail"]["proof"]
    assert proof["payload"]["action"] == "case.close" and proof["payload"]["content"] == {"case": "C-1",
                                                                                         "closed": "2026-10-01"}
    assert proof["payload_sha256"] == hashlib.sha256(canonical_json(proof["payload"])).hexdigest()
    v = _verify_cli()
    assert v.exit_code == 0, v.output
    assert json.loads(v.stdout)["ok"] is True


@needs_ssh_keygen
def test_a_kept_signature_verifies_with_ssh_keygen_alone(team, tmp_path):
    """What the audit log keeps can be checked without Footage: ssh-keygen -Y verify, the user's
    public key and the payload's canonical bytes."""
    assert _close("arne", team["arne"]).exit_code == 0
    proof = _log().events()[-1]["detail"]["proof"]
    (tmp_path / "payload").write_bytes(canonical_json(proof["payload"]))
    (tmp_path / "payload.sig").write_text(armored(proof["signature"]))
    (tmp_path / "allowed").write_text(f"arne {_public(team['arne'])}\n")
    done = subprocess.run([SSH_KEYGEN, "-Y", "verify", "-f", tmp_path / "allowed", "-I", "arne", "-n", "footage",
                           "-s", tmp_path / "payload.sig"], stdin=(tmp_path / "payload").open("rb"),
                          capture_output=True, text=True)
    assert done.returncode == 0 and "Good" in done.stdout, done.stderr
    (tmp_path / "payload").write_bytes(canonical_json(proof["payload"]).replace(b"2026-10-01", b"2026-10-02"))
    done = subprocess.run([SSH_KEYGEN, "-Y", "verify", "-f", tmp_path / "allowed", "-I", "arne", "-n", "footage",
                           "-s", tmp_path / "payload.sig"], stdin=(tmp_path / "payload").open("rb"),
                          capture_output=True, text=True)
    assert done.returncode != 0


@needs_ssh_keygen
def test_an_ssh_keygen_key_signs(team, tmp_path, monkeypatch):
    key = tmp_path / "id_ed25519"
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "arne@laptop", "-f", key], check=True)
    public = {n: _public(p) for n, p in team.items()} | {"arne": _public(key)}
    write_config(Path(os.environ["FOOTAGE_CONFIG"]), public)
    assert _close("arne", key).exit_code == 0
    # the default key: ~/.ssh/id_ed25519
    home = tmp_path / "userhome"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(key, home / ".ssh" / "id_ed25519")
    monkeypatch.setenv("HOME", str(home))
    r = run("case", "close", "C-2", "--date", "2026-10-02", "--as", "arne")
    assert r.exit_code == 0, r.output
    assert _verify_cli().exit_code == 0


@pytest.fixture
def agent(tmp_path, monkeypatch):
    """A real ssh-agent on a socket in the test folder (stopped afterwards)."""
    if SSH_KEYGEN is None or shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        pytest.skip("ssh-agent/ssh-add not installed (Debian: openssh-client)")
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ssh-agent did not start (exit {proc.poll()})")
            time.sleep(0.05)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield sock
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_signing_through_ssh_agent(team, tmp_path, agent, monkeypatch):
    """An encrypted key whose passphrase Footage never sees: the agent holds it, ssh-keygen -Y
    sign asks the agent, given the public key (--key KEY.pub) or the encrypted private key."""
    key = tmp_path / "enc_ed25519"
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "pass phrase", "-C", "arne@agent", "-f", key], check=True)
    askpass = tmp_path / "askpass"
    askpass.write_text("#!/bin/sh\necho 'pass phrase'\n")
    askpass.chmod(0o700)
    env = dict(os.environ, SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
    subprocess.run(["ssh-add", "-q", str(key)], env=env, stdin=subprocess.DEVNULL, check=True)
    public = {n: _public(p) for n, p in team.items()} | {"arne": _public(key)}
    write_config(Path(os.environ["FOOTAGE_CONFIG"]), public)
    r = _close("arne", key.with_name(key.name + ".pub"))
    assert r.exit_code == 0, r.output
    r = _close("arne", key, case="C-2")  # encrypted, FOOTAGE_KEY_PASSPHRASE unset: the agent signs
    assert r.exit_code == 0, r.output
    assert _verify_cli().exit_code == 0
    # without the agent the encrypted key cannot sign, and says why
    monkeypatch.delenv("SSH_AUTH_SOCK")
    r = _close("arne", key, case="C-3")
    assert r.exit_code == 3 and "encrypted" in r.output


def test_signed_legal_hold_keeps_the_proof_in_the_record_history(team):
    settings = load_settings()
    settings.ensure_layout()
    store = open_store(settings)
    data = os.urandom(2000)
    sha = hashlib.sha256(data).hexdigest()
    key = f"originals/DEV/2026/10/01/{sha}.mp4"
    store.put(key, data, sha256=sha)
    r = run("storage", "hold", key, "--on", "--reason", "case 2026-17", "--as", "sven", "--key", team["sven"])
    assert r.exit_code == 0, r.output
    (event,) = [e for e in record_events(store, sha) if e["kind"] == "legal_hold_set"]
    assert event["detail"]["proof"]["payload"]["content"]["legal_hold"] is True
    assert event["detail"]["proof"]["payload"]["record"] == sha
    assert _verify_cli().exit_code == 0


# -- refusals: exit 3, audited --------------------------------------------------------------------------
def _refused(r, *words):
    assert r.exit_code == 3, r.output
    for w in words:
        assert w in r.output
    refusals = [e for e in _log().events() if e["kind"] == "signature_refused"]
    assert len(refusals) == 1
    assert not any(e["kind"] == "case_closed" for e in _log().events())
    return refusals[0]


def test_wrong_key_is_refused(team):
    e = _refused(_close("arne", team["sven"]), "case.close refused for arne", "not the registered key")
    assert e["user"] == "arne" and e["detail"]["action"] == "case.close"


def test_stale_signature_is_refused(team, monkeypatch):
    monkeypatch.setenv("FOOTAGE_IDENTITY__CLOCK_SKEW_S", "0")  # any signature is older than now
    _refused(_close("arne", team["arne"]), "stale")


def test_old_form_user_without_a_key_is_refused(team):
    e = _refused(_close("old", team["arne"]), "no public_key is registered for old")
    assert e["user"] == "old"


def test_missing_key_file_is_refused(team, tmp_path):
    _refused(_close("arne", tmp_path / "nowhere"), "not signed", "no key file")
    # no --key, no FOOTAGE_KEY, no ~/.ssh/id_ed25519
    r = run("case", "close", "C-1", "--date", "2026-10-01", "--as", "arne")
    assert r.exit_code == 3 and "no key was given" in r.output


def test_role_is_checked_before_the_signature(team):
    r = _close("sven", team["sven"])
    assert r.exit_code == 3 and "may not" in r.output
    assert [e["kind"] for e in _log().events()] == ["access_denied"]


def test_single_user_mode_is_unchanged(footage_home, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    r = run("case", "close", "C-1", "--date", "2026-10-01")
    assert r.exit_code == 0, r.output
    (event,) = _log().events()
    assert event["kind"] == "case_closed" and "proof" not in event["detail"]
    r = run("audit", "verify")
    assert r.exit_code == 0 and "Single-user mode" in r.output


# -- key rotation and forgeries ---------------------------------------------------------------------------
def _rotate(team, tmp_path, user: str) -> Path:
    new = tmp_path / f"{user}_new"
    public = {n: _public(p) for n, p in team.items()} | {user: make_key(new, f"{user}@new")}
    write_config(Path(os.environ["FOOTAGE_CONFIG"]), public)
    return new


def test_key_rotation_keeps_old_signatures_verifiable(team, tmp_path):
    assert _close("arne", team["arne"]).exit_code == 0
    new = _rotate(team, tmp_path, "arne")
    assert _close("arne", team["arne"], case="C-2").exit_code == 3  # the old key no longer signs
    assert _close("arne", new, case="C-3").exit_code == 0
    keys = [e for e in _log().events() if e["kind"] == "user_key"]
    assert [e["detail"]["public_key"] for e in keys] == [" ".join(_public(team["arne"]).split()[:2]),
                                                          " ".join(_public(new).split()[:2])]
    assert keys[1]["detail"]["previous"] == keys[0]["detail"]["fingerprint"]
    v = _verify_cli()
    assert v.exit_code == 0, v.output
    doc = json.loads(v.stdout)
    assert doc["ok"] and doc["events"] == 5  # 2 keys, 2 closings, 1 refusal


def _forge_log(tmp_path, monkeypatch, change) -> None:
    """Write the whole log again, as a forger with the store in hand would: every event re-chained
    and re-hashed (so the hash chain holds), one changed by ``change``; FOOTAGE_HOME then points at it."""
    events = _log().events()
    drafts = [{k: e[k] for k in ("id", "at", "kind", "user", "record", "detail")} for e in events]
    change(drafts)
    monkeypatch.setenv("FOOTAGE_HOME", str(tmp_path / "forged"))
    settings = load_settings()
    settings.ensure_layout()
    open_audit(settings, open_store(settings)).append_many(drafts)


@pytest.mark.parametrize("forgery, reason", [
    ("content", "does not match its recorded SHA-256"),
    ("content+sha", "does not match the input"),
    ("signature", "does not match the input"),
    ("other key", "registered for arne at the time"),
])
def test_audit_verify_finds_a_forged_signed_event(team, tmp_path, monkeypatch, forgery, reason):
    assert _close("arne", team["arne"]).exit_code == 0
    _rotate(team, tmp_path, "arne")
    mallory = tmp_path / "mallory"
    make_key(mallory)

    def change(drafts):
        closing = next(d for d in drafts if d["kind"] == "case_closed")
        proof = closing["detail"]["proof"]
        if forgery.startswith("content"):
            proof["payload"]["content"]["closed"] = closing["detail"]["closed"] = "2026-12-31"
            if forgery == "content+sha":
                proof["payload_sha256"] = hashlib.sha256(canonical_json(proof["payload"])).hexdigest()
        elif forgery == "signature":
            raw = bytearray(base64.b64decode(proof["signature"]))
            raw[-1] ^= 1  # one bit of the Ed25519 signature, the last field of the SSHSIG blob
            proof["signature"] = base64.b64encode(bytes(raw)).decode()
        else:  # signed anew by mallory's key, fingerprint and all
            proof["signature"] = sign(canonical_json(proof["payload"]), mallory)
            proof["key_fingerprint"] = fingerprint(_public(mallory))

    _forge_log(tmp_path, monkeypatch, change)
    r = run("audit", "verify", "--as", "aud")
    assert r.exit_code == 1, r.output
    assert "audit log BROKEN" in r.output and "signed case_closed event does not verify" in r.output
    assert reason in r.output


def test_a_signed_event_before_its_key_is_registered_is_forged(team, tmp_path, monkeypatch):
    assert _close("arne", team["arne"]).exit_code == 0
    _forge_log(tmp_path, monkeypatch, lambda drafts: drafts.remove(next(d for d in drafts if d["kind"] == "user_key")))
    r = run("audit", "verify", "--as", "aud")
    assert r.exit_code == 1 and "no key was registered for arne" in r.output


# -- footage user keygen | show ----------------------------------------------------------------------------
def test_keygen_writes_a_private_key_and_the_lines_to_paste(team, tmp_path):
    out = tmp_path / "made" / "bea_key"
    r = run("user", "keygen", "bea", "--out", out)
    assert r.exit_code == 0, r.output
    assert out.stat().st_mode & 0o777 == 0o600
    pasted = tomllib.loads(r.stdout)
    assert pasted["users"]["bea"]["roles"] == ROLES["bea"]
    assert pasted["users"]["bea"]["public_key"] == _public(out)
    # pasted into the configuration, the new key signs
    public = {n: _public(p) for n, p in team.items()} | {"bea": pasted["users"]["bea"]["public_key"]}
    write_config(Path(os.environ["FOOTAGE_CONFIG"]), public)
    assert _close("bea", out).exit_code == 0
    # never over an existing file
    r = run("user", "keygen", "bea", "--out", out)
    assert r.exit_code == 2 and "exists" in r.output


def test_keygen_with_a_passphrase(team, tmp_path, monkeypatch):
    monkeypatch.setenv("FOOTAGE_KEY_PASSPHRASE", "correct horse")
    out = tmp_path / "enc"
    assert run("user", "keygen", "arne", "--out", out).exit_code == 0
    assert b"BEGIN OPENSSH PRIVATE KEY" in out.read_bytes()
    public = {n: _public(p) for n, p in team.items()} | {"arne": _public(out)}
    write_config(Path(os.environ["FOOTAGE_CONFIG"]), public)
    assert _close("arne", out).exit_code == 0
    monkeypatch.delenv("FOOTAGE_KEY_PASSPHRASE")
    r = _close("arne", out, case="C-2")
    assert r.exit_code == 3 and "encrypted" in r.output


@needs_ssh_keygen
def test_show_prints_the_fingerprint_ssh_keygen_prints(team):
    r = run("user", "show", "arne", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    listed = subprocess.run([SSH_KEYGEN, "-l", "-f", str(team["arne"]) + ".pub"], capture_output=True, text=True,
                            check=True).stdout.split()[1]
    assert doc == {"user": "arne", "configured": True, "roles": ["archivist"], "public_key": _public(team["arne"]),
                   "fingerprint": listed, "can_sign": True, "note": None}
    old = json.loads(run("user", "show", "old", "--json").stdout)
    assert old["roles"] == ["archivist", "supervisor"] and old["can_sign"] is False and "no public_key" in old["note"]
    everyone = json.loads(run("user", "show", "--all", "--json").stdout)
    assert [u["user"] for u in everyone] == sorted([*ROLES, "old"])


def test_a_real_footage_process_signs_and_refuses(team):
    """The installed console script, in processes of its own: exit 0 signed, 3 refused."""
    footage = Path(sys.executable).with_name("footage")
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    ok = subprocess.run([footage, "case", "close", "C-9", "--date", "2026-10-01", "--as", "arne", "--key",
                         team["arne"]], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([footage, "case", "close", "C-9", "--date", "2026-10-02", "--as", "arne", "--key",
                          team["bea"]], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 3 and "not the registered key" in " ".join(bad.stderr.split())
    assert [e["kind"] for e in _log().events()] == ["user_key", "case_closed", "signature_refused"]


def test_sign_input_gives_the_fields_a_flow_verifies(team):
    """flows.cli.common.sign_input: what `footage disclose ...` attaches to an input."""
    import typer

    from flows.cli.common import sign_input
    from records.identity import verify_input

    settings = load_settings()
    settings.ensure_layout()
    args = dict(record="ab" * 32, content={"keep": [1]}, run_id="r", pause_key="select-1")
    fields = sign_input(settings, "arne", "disclose.select", key=str(team["arne"]), **args)
    proof = verify_input(settings, open_store(settings), user="arne", action="disclose.select",
                         signed_at=fields["signed_at"], signature=fields["signature"], via="cli", **args)
    assert proof["key_fingerprint"] == fields["key_fingerprint"]
    with pytest.raises(typer.Exit) as info:
        sign_input(settings, "arne", "disclose.select", key="/nonexistent/key", **args)
    assert info.value.exit_code == 3


@pytest.mark.parametrize("attack, reason", [("replay", "already used"), ("tamper", "does not match the input")])
def test_a_client_that_replays_or_tampers_is_refused_with_exit_3(team, monkeypatch, attack, reason):
    """A client other than Footage's own (which always signs what it sends): it resends a
    signature it saw, or signs one input and sends another. The command's real verification
    refuses it, exit 3, audited."""
    import records.identity as identity

    genuine = identity.signed_fields
    seen: list[dict] = []

    def client(settings, **kw):
        if attack == "replay":
            if not seen:
                seen.append(genuine(settings, **kw))
            return seen[0]
        return genuine(settings, **dict(kw, content=dict(kw["content"], closed="2026-12-31")))

    monkeypatch.setattr(identity, "signed_fields", client)
    if attack == "replay":
        assert _close("arne", team["arne"]).exit_code == 0
        r = _close("arne", team["arne"])
        assert r.exit_code == 3 and reason in r.output
        kinds = [e["kind"] for e in _log().events()]
        assert kinds == ["user_key", "case_closed", "signature_refused"]
    else:
        _refused(_close("arne", team["arne"]), reason)
