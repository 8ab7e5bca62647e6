"""Signed inputs at the API level: round trip, refusals (each audited), separation of duties."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from records.audit import open_audit
from records.identity import (
    ProofCheck,
    Refused,
    canonical_payload,
    fingerprint,
    sign,
    signed_fields,
    verify_input,
)
from records.roles import check_separation, may
from records.settings import load_settings
from records.store import open_store

from tests.identity.conftest import make_key

INPUT = dict(action="disclose.approve", record="ab" * 32, run_id="run-1", pause_key="approve-1",
             content={"approve": True, "comment": "per art. 31, 第三十一条"})


@pytest.fixture
def ctx(team):
    settings = load_settings()
    settings.ensure_layout()
    return settings, open_store(settings), team


def _verify(settings, store, fields, user="sven", **changes):
    """verify_input for ``INPUT`` (with ``changes``) as ``user``, with the client's ``fields``."""
    return verify_input(settings, store, user=user, **dict(INPUT, **changes),
                        signed_at=fields.get("signed_at"), signature=fields.get("signature"))


def _refusals(settings, store):
    return [e for e in open_audit(settings, store).events() if e["kind"] == "signature_refused"]


def test_canonical_payload_is_deterministic_json():
    body = canonical_payload(user="贝", signed_at="2026-11-28T08:00:00+00:00", **INPUT)
    # written out by hand: sorted keys, no spaces, UTF-8 (not \\u escapes)
    assert body == (
        '{"action":"disclose.approve","content":{"approve":true,"comment":"per art. 31, 第三十一条"},'
        '"format":"footage-input/1","pause_key":"approve-1","record":"' + "ab" * 32 + '","run_id":"run-1",'
        '"signed_at":"2026-11-28T08:00:00+00:00","user":"贝"}'
    ).encode("utf-8")


def test_round_trip_keeps_the_proof_and_registers_the_key(ctx):
    settings, store, keys = ctx
    fields = signed_fields(settings, key_path=keys["sven"], user="sven", **INPUT)
    assert set(fields) == {"user", "signed_at", "signature", "key_fingerprint"}
    public = keys["sven"].with_name(keys["sven"].name + ".pub").read_text()
    assert fields["key_fingerprint"] == fingerprint(public)
    proof = _verify(settings, store, fields)
    assert proof["signature"] == fields["signature"] and proof["key_fingerprint"] == fields["key_fingerprint"]
    assert proof["payload"]["content"] == INPUT["content"] and proof["payload"]["user"] == "sven"
    events = open_audit(settings, store).events()
    assert [(e["kind"], e["user"]) for e in events] == [("user_key", "sven")]
    assert events[0]["detail"]["public_key"] == " ".join(public.split()[:2])
    # the key is noted once: a second signed input of the same user writes no second user_key event
    _verify(settings, store, signed_fields(settings, key_path=keys["sven"], user="sven", **INPUT))
    assert [e["kind"] for e in open_audit(settings, store).events()] == ["user_key"]


def test_single_user_mode_needs_no_signature(footage_home):
    settings = load_settings()
    settings.ensure_layout()
    store = open_store(settings)
    assert signed_fields(settings, key_path=None, user="anyone", **INPUT) == {}
    assert verify_input(settings, store, user="anyone", **INPUT, signed_at=None, signature=None) == {}
    assert open_audit(settings, store).events() == []


@pytest.mark.parametrize(
    "case, expect",
    [
        ("tampered content", "does not match the input"),
        ("other record", "does not match the input"),
        ("other pause", "does not match the input"),
        ("wrong key", "not the registered key"),
        ("missing", "not signed"),
        ("stale", "stale"),
        ("future", "stale"),
        ("garbage", "cannot be read"),
    ],
)
def test_bad_signatures_are_refused_and_audited(ctx, tmp_path, case, expect):
    settings, store, keys = ctx
    fields = signed_fields(settings, key_path=keys["sven"], user="sven", **INPUT)
    changes = {}
    if case == "tampered content":
        changes["content"] = dict(INPUT["content"], approve=False)
    elif case == "other record":
        changes["record"] = "cd" * 32
    elif case == "other pause":
        changes["pause_key"] = "approve-2"
    elif case == "wrong key":  # arne's key, claiming to be sven
        fields = signed_fields(settings, key_path=keys["arne"], user="sven", **INPUT)
    elif case == "missing":
        fields = {"user": "sven"}
    elif case in ("stale", "future"):
        shift = timedelta(seconds=settings.identity.clock_skew_s + 60) * (-1 if case == "stale" else 1)
        when = (datetime.now(timezone.utc) + shift).isoformat()
        message = canonical_payload(user="sven", signed_at=when, **INPUT)
        fields = {"user": "sven", "signed_at": when, "signature": sign(message, keys["sven"])}
    elif case == "garbage":
        fields = dict(fields, signature="bm90IGEgc2lnbmF0dXJl")
    with pytest.raises(Refused) as info:
        _verify(settings, store, fields, **changes)
    assert expect in str(info.value) and "sven" in str(info.value)
    refusals = _refusals(settings, store)
    assert len(refusals) == 1 and refusals[0]["user"] == "sven"
    assert refusals[0]["detail"]["action"] == "disclose.approve" and expect in refusals[0]["detail"]["why"]
    assert not any(e["kind"] == "user_key" for e in open_audit(settings, store).events())


def test_a_replayed_signature_is_refused(ctx):
    settings, store, keys = ctx
    fields = signed_fields(settings, key_path=keys["sven"], user="sven", **INPUT)
    proof = _verify(settings, store, fields)
    # the caller keeps the proof in its action's audit event, as the commands and the flow do
    open_audit(settings, store).append("disclosure_approved", user="sven", record=INPUT["record"],
                                       detail={"run": "run-1", "proof": proof})
    with pytest.raises(Refused, match="already used"):
        _verify(settings, store, fields)
    assert len(_refusals(settings, store)) == 1
    assert open_audit(settings, store).verify(check=ProofCheck()).ok


def test_old_form_user_without_a_key_is_refused(ctx):
    settings, store, keys = ctx
    assert may(settings, "old", "disclose.approve")  # holds the role ...
    fields = signed_fields(settings, key_path=keys["sven"], user="old", **INPUT)
    with pytest.raises(Refused, match="no public_key is registered for old"):
        _verify(settings, store, fields, user="old")
    with pytest.raises(Refused, match="no public_key is registered for old"):  # ... but cannot prove it
        _verify(settings, store, {"user": "old"}, user="old")
    assert [e["user"] for e in _refusals(settings, store)] == ["old", "old"]


def test_an_unknown_user_is_refused(ctx):
    settings, store, keys = ctx
    fields = signed_fields(settings, key_path=keys["sven"], user="mallory", **INPUT)
    with pytest.raises(Refused, match="not a configured user"):
        _verify(settings, store, fields, user="mallory")


def test_unsigned_ui_input_is_refused_unless_trusted(ctx, monkeypatch):
    settings, store, _ = ctx
    with pytest.raises(Refused, match="trust_ui_input"):
        verify_input(settings, store, user="sven", **INPUT, signed_at=None, signature=None, via="ui")
    monkeypatch.setenv("FOOTAGE_DISCLOSURE__TRUST_UI_INPUT", "true")
    trusted = load_settings()
    proof = verify_input(trusted, store, user="sven", **INPUT, signed_at=None, signature=None, via="ui")
    assert proof == {"unsigned": True, "trusted": "disclosure.trust_ui_input", "via": "ui"}
    # the CLI is never trusted unsigned
    with pytest.raises(Refused):
        verify_input(trusted, store, user="sven", **INPUT, signed_at=None, signature=None, via="cli")


def test_missing_or_unreadable_key_files(ctx, tmp_path, monkeypatch):
    settings, _, keys = ctx
    with pytest.raises(Refused, match="no key was given"):
        signed_fields(settings, key_path=None, user="sven", **INPUT)
    with pytest.raises(Refused, match="no key file"):
        signed_fields(settings, key_path=tmp_path / "absent", user="sven", **INPUT)
    (tmp_path / "junk").write_text("not a key")
    with pytest.raises(Refused, match="cannot read the private key"):
        signed_fields(settings, key_path=tmp_path / "junk", user="sven", **INPUT)
    # FOOTAGE_KEY is the default
    monkeypatch.setenv("FOOTAGE_KEY", str(keys["sven"]))
    assert signed_fields(settings, key_path=None, user="sven", **INPUT)["signature"]


def test_passphrase_from_the_environment(ctx, tmp_path, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    path = tmp_path / "enc"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                       serialization.BestAvailableEncryption(b"s3cret")))
    settings = ctx[0]
    with pytest.raises(Refused, match="encrypted"):
        signed_fields(settings, key_path=path, user="sven", **INPUT)
    monkeypatch.setenv("FOOTAGE_KEY_PASSPHRASE", "wrong")
    with pytest.raises(Refused, match="FOOTAGE_KEY_PASSPHRASE"):
        signed_fields(settings, key_path=path, user="sven", **INPUT)
    monkeypatch.setenv("FOOTAGE_KEY_PASSPHRASE", "s3cret")
    fields = signed_fields(settings, key_path=path, user="sven", **INPUT)
    assert fields["key_fingerprint"] == fingerprint(key.public_key())


def test_a_non_ed25519_key_is_refused(ctx, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = tmp_path / "ecdsa"
    path.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    with pytest.raises(Refused, match="not an Ed25519 key"):
        signed_fields(ctx[0], key_path=path, user="sven", **INPUT)


# -- separation of duties ----------------------------------------------------------------------------
def test_a_user_with_both_roles_cannot_approve_their_own_selection_or_request(ctx):
    settings, store, keys = ctx
    # bea holds both roles, and her signature is genuine ...
    assert may(settings, "bea", "disclose.select") and may(settings, "bea", "disclose.approve")
    proof = _verify(settings, store, signed_fields(settings, key_path=keys["bea"], user="bea", **INPUT), user="bea")
    assert proof["payload"]["user"] == "bea"
    # ... yet she may not approve what she selected or requested
    with pytest.raises(Refused, match="bea made the selection of this disclosure"):
        check_separation("bea", requester="arne", selector="bea")
    with pytest.raises(Refused, match="bea requested this disclosure"):
        check_separation("bea", requester="bea", selector="arne")
    with pytest.raises(Refused, match="separation of duties"):
        check_separation(" bea ", requester="bea", selector="bea")
    # another supervisor may; so may bea approve what others prepared
    check_separation("sven", requester="bea", selector="bea")
    check_separation("bea", requester="arne", selector="arne")


def test_a_new_key_file_for_another_user_cannot_sign_as_them(ctx, tmp_path):
    """Holding some key is not enough: the signature must come from the key registered for the
    user the input names (nobody can approve under another user's name)."""
    settings, store, _ = ctx
    make_key(tmp_path / "mallory")
    fields = signed_fields(settings, key_path=tmp_path / "mallory", user="sven", **INPUT)
    with pytest.raises(Refused, match="not the registered key"):
        _verify(settings, store, fields)


def test_a_passphrase_set_for_another_key_does_not_block_an_unencrypted_one(ctx, monkeypatch):
    settings, store, keys = ctx
    monkeypatch.setenv("FOOTAGE_KEY_PASSPHRASE", "for some other key")
    fields = signed_fields(settings, key_path=keys["sven"], user="sven", **INPUT)
    assert _verify(settings, store, fields)["key_fingerprint"] == fields["key_fingerprint"]
