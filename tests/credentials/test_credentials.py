"""Content Credentials (issue 27): a released copy signed with the bureau's certificate and
checked by ``footage disclose verify``; camera credentials read at ingest. Real signing and
reading with c2pa-python on real MP4 files (media.synth.make_clip), certificates made here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from media.model import Event
from media.synth import make_clip
from records.credentials import credential_findings, read_credentials, sign_copy, verify_release
from records.disclosure import Actor, Output, Receipt
from records.history import record_event
from records.keys import disclosure_prefix
from records.settings import C2paSettings, Settings
from records.store import open_store
from tests.credentials.pki import flip_byte, make_pki

RUN = "0b7e7d3c-1111-2222-3333-444455556666"


def _entries() -> list[Event]:
    law = {"basis": "art31", "basis_en": "Article 31", "basis_zh": "第三十一条"}
    return [
        Event(kind="redaction", file="o.mp4", start=0.0, end=1.5, rule="art31",
              detail={"what_en": "face (track #1), solid mask", "what_zh": "人脸（轨迹 #1）", "reason": "third party",
                      "track": 1, **law}),
        Event(kind="kept_visible", file="o.mp4", start=0.0, end=2.0, rule="art31",
              detail={"what_en": "face (track #2) left visible", "what_zh": "人脸", "reason": "requester", **law}),
        Event(kind="redaction", file="o.mp4", start=0.5, end=1.0, rule="art31",
              detail={"what_en": "audio mute", "what_zh": "音频静音", "reason": "third party's name", "audio": "mute",
                      **law}),
    ]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    return make_clip(d / "original.mp4", 2.0, seed=1), make_clip(d / "disclosed.mp4", 2.0, seed=2)


def _settings(home: Path, pki, **more) -> Settings:
    return Settings(home=home, c2pa=C2paSettings(cert_chain=pki.chain, private_key=pki.key,
                                                 trust_anchors=pki.anchors, **more))


def _release(settings: Settings, original: Path, copy: Path, record: str = "ab" * 32) -> tuple[Path, Receipt]:
    """What the flow's release step does, without Prefect: sign, store the copy, the audit event, the receipt."""
    store = open_store(settings)
    out = copy.parent / f"signed-{copy.name}"
    base = disclosure_prefix(record, RUN)
    signed = sign_copy(settings, copy, out, original=original, record=record, source_key=f"originals/{record}.mp4",
                       run=RUN, receipt_key=base + "receipt.json", entries=_entries(),
                       watermark={"to": "张三", "date": "2026-11-20"})
    from media.redact import sha256_file

    sha = sha256_file(out)
    info = store.put(base + "copy.mp4", out, sha256=sha, content_type="video/mp4")
    record_event(settings, store, record, "disclosure_released", user="bob",
                 detail={"run": RUN, "key": info.key, "sha256": sha, "c2pa": signed.to_json_dict()})
    receipt = Receipt(run=RUN, record=record, requester="张三", reason="hearing", requested_by=Actor(user="a", via="cli"),
                      status="released", output=Output(key=info.key, sha256=sha, size=info.size,
                                                       retain_until="2030-01-01T00:00:00+00:00"),
                      source_sha256=record, c2pa=signed)
    store.put(base + "receipt.json", receipt.to_json(), content_type="application/json")
    return out, receipt


def _manifest(path: Path, settings: Settings) -> dict:
    from records.credentials import manifest_json

    doc = json.loads(manifest_json(path, settings))
    return doc["manifests"][doc["active_manifest"]]


@pytest.mark.slow
def test_released_copy_is_signed_and_verified(tmp_path, pki, clips):
    settings = _settings(tmp_path / "home", pki)
    original, copy = clips
    out, receipt = _release(settings, original, copy)
    assert receipt.c2pa is not None and receipt.c2pa.manifest.startswith("urn:c2pa:")
    assert receipt.to_json_dict()["c2pa"]["signer"] == "Footage test signer"

    m = _manifest(out, settings)
    assert m["claim_generator_info"][0]["name"] == "Footage"
    actions = next(a for a in m["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    redactions = [a["parameters"]["org.footage.redaction"] for a in actions if "org.footage.redaction" in
                  (a.get("parameters") or {})]
    assert [r["what"] for r in redactions] == ["face (track #1), solid mask", "audio mute"]  # kept tracks: no action
    assert all(r["basis"] == "art31" and r["reason"] for r in redactions)
    assert {a["action"] for a in actions} == {"c2pa.opened", "c2pa.edited"}
    assert any("org.footage.watermark" in (a.get("parameters") or {}) for a in actions)
    ours = next(a for a in m["assertions"] if a["label"] == "org.footage.disclosure")["data"]
    assert ours["source_sha256"] == "ab" * 32 and ours["run"] == RUN
    assert m["ingredients"][0]["instance_id"] == "footage:sha256:" + "ab" * 32
    assert m["ingredients"][0]["relationship"] == "parentOf"

    v = verify_release(settings, out)
    assert v.ok, [c for c in v.checks if not c.ok]
    assert [c.name for c in v.checks] == ["valid", "trusted", "ours", "receipt", "audit"]
    assert v.credentials.state == "Trusted"

    bad = tmp_path / "flipped.mp4"
    shutil.copy(out, bad)
    flip_byte(bad)
    v = verify_release(settings, bad)
    assert not v.ok and v.checks[0].name == "valid" and not v.checks[0].ok
    assert any("mismatch" in f for f in v.credentials.failures), v.credentials


@pytest.mark.slow
def test_verify_refuses_what_is_not_ours(tmp_path, pki, clips):
    settings = _settings(tmp_path / "home", pki)
    original, copy = clips
    # no manifest at all
    v = verify_release(settings, copy)
    assert not v.ok and v.checks[0].name == "manifest"
    # signed by someone else's CA: valid but not trusted
    other = make_pki(tmp_path / "other", org="Someone Else")
    foreign = _settings(tmp_path / "home", other)
    out, _ = _release(foreign, original, copy, record="cd" * 32)
    v = verify_release(settings, out)
    assert not v.ok and v.credentials.state == "Valid"
    assert next(c for c in v.checks if c.name == "trusted").ok is False
    # ours, but the store has no such disclosure
    lost = _settings(tmp_path / "elsewhere", pki)
    out2, _ = _release(settings, original, copy, record="ef" * 32)
    v = verify_release(lost, out2)
    assert not v.ok and next(c for c in v.checks if c.name == "receipt").ok is False


@pytest.mark.slow
def test_cli_disclose_verify(tmp_path, pki, clips, monkeypatch):
    from typer.testing import CliRunner

    from flows.cli import app

    home = tmp_path / "home"
    settings = _settings(home, pki)
    out, _ = _release(settings, *clips)
    config = tmp_path / "footage.toml"
    config.write_text(f'home = "{home}"\n[c2pa]\ncert_chain = "{pki.chain}"\nprivate_key = "{pki.key}"\n'
                      f'trust_anchors = "{pki.anchors}"\n')
    monkeypatch.setenv("FOOTAGE_CONFIG", str(config))
    monkeypatch.delenv("FOOTAGE_HOME", raising=False)
    runner = CliRunner()
    ok = runner.invoke(app, ["disclose", "verify", str(out)])
    assert ok.exit_code == 0, ok.output
    assert "verified / 已验证" in ok.output
    doc = json.loads(runner.invoke(app, ["disclose", "verify", str(out), "--json"]).output)
    assert doc["ok"] is True and doc["record"] == "ab" * 32

    flip_byte(out)
    bad = runner.invoke(app, ["disclose", "verify", str(out)])
    assert bad.exit_code == 1, bad.output
    assert "NOT verified / 未通过验证" in bad.output and "FAIL" in bad.output
    unsigned = runner.invoke(app, ["disclose", "verify", str(clips[0])])
    assert unsigned.exit_code == 1 and "no Content Credentials" in unsigned.output


def _camera_file(path: Path, pki) -> Path:
    """A camera's file with its own manifest: c2pa.created, when it was captured."""
    import c2pa

    src = make_clip(path.with_name("raw-" + path.name), 1.0, seed=3)
    manifest = {"claim_generator_info": [{"name": "TestCam firmware", "version": "1.0"}], "format": "video/mp4",
                "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
                    {"action": "c2pa.created", "when": "2026-11-20T09:00:00+08:00",
                     "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}]}
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo("es256", pki.chain.read_bytes(), pki.key.read_bytes(), None))
    with signer, c2pa.Builder(manifest) as b, open(src, "rb") as s, open(path, "w+b") as d:
        b.sign(signer, "video/mp4", s, d)
    return path


@pytest.mark.slow
def test_camera_credentials_at_ingest(tmp_path, pki, clips):
    camera = make_pki(tmp_path / "camera", org="TestCam Inc", signer="TestCam body camera 0042")
    settings = Settings(home=tmp_path / "home", c2pa=C2paSettings(trust_anchors=camera.anchors))
    f = _camera_file(tmp_path / "cam.mp4", camera)
    creds = read_credentials(f, settings)
    assert creds.valid and creds.trusted and creds.state == "Trusted"
    assert creds.signer == "TestCam body camera 0042" and creds.issuer == "TestCam Inc"
    assert creds.captured_at == "2026-11-20T09:00:00+08:00"
    assert creds.claim_generator == "TestCam firmware 1.0"
    assert credential_findings(creds, str(f)) == []
    assert read_credentials(clips[0], settings) is None  # no manifest: nothing to say

    flip_byte(f)
    creds = read_credentials(f, settings)
    assert not creds.valid and creds.state == "Invalid"
    (finding,) = credential_findings(creds, str(f), "cam-42")
    assert finding["kind"] == "c2pa_invalid" and finding["detail"]["failures"]


@pytest.mark.slow
def test_released_copy_keeps_the_cameras_manifest(tmp_path, pki):
    camera = make_pki(tmp_path / "camera", org="TestCam Inc", signer="TestCam body camera 0042")
    settings = _settings(tmp_path / "home", pki)
    original = _camera_file(tmp_path / "cam.mp4", camera)
    copy = make_clip(tmp_path / "disclosed.mp4", 1.0, seed=4)
    out, _ = _release(settings, original, copy)
    m = _manifest(out, settings)
    ing = m["ingredients"][0]
    assert ing.get("active_manifest"), ing  # the camera's own manifest came along with the ingredient
    assert verify_release(settings, out).ok


@pytest.mark.slow
def test_manifest_keeps_camera_credentials_and_the_finding(tmp_path):
    from records.credentials import attach_credentials
    from records.intake import recording_from_file
    from records.manifest import Manifest, StoredObject, build_manifest

    camera = make_pki(tmp_path / "camera", org="TestCam Inc", signer="TestCam body camera 0042")
    settings = Settings(home=tmp_path / "home", c2pa=C2paSettings(trust_anchors=camera.anchors))
    f = _camera_file(tmp_path / "cam.mp4", camera)
    for tampered in (False, True):
        if tampered:
            flip_byte(f)
        rec = recording_from_file(f, settings)
        m = attach_credentials(build_manifest(rec, StoredObject(key="originals/x.mp4", sha256=rec.sha256)), f, settings)
        back = Manifest.from_json(m.to_json())
        assert back.credentials is not None and back.credentials.signer == "TestCam body camera 0042"
        assert back.credentials.valid is not tampered
        kinds = [x["kind"] for x in back.findings]
        assert kinds == (["c2pa_invalid"] if tampered else [])
        assert back.open_findings("c2pa_invalid") == int(tampered)
    plain = make_clip(tmp_path / "plain.mp4", 1.0)
    rec = recording_from_file(plain, settings)
    m = attach_credentials(build_manifest(rec, StoredObject(key="k", sha256=rec.sha256)), plain, settings)
    assert m.credentials is None and "credentials" not in json.loads(m.to_json())
