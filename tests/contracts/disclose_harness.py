"""The disclosure flow's body run without Prefect: every step faked, every input scripted, the
clock frozen; the receipt comes out of a real local store.

The expected receipts under ``expected/`` were written by the flow before the receipt was a model
(commit d4b6568) through this harness (``make_expected.py``); the tests run the new flow through
it and compare the stored bytes.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

RECORD = "ab" * 32
RUN = "6f1c1f4e-2b8a-4d33-9a57-0d1e2f3a4b5c"
NOW = datetime(2026, 12, 1, 8, 0, 0, 123456, tzinfo=timezone.utc)

SIGNED = {"key_fingerprint": "SHA256:fp", "signed_at": "2026-12-01T08:00:00+00:00", "payload_sha256": "c" * 64,
          "signature": "-----BEGIN SSH SIGNATURE-----", "payload": "{}", "via": "cli"}
TRUSTED = {"unsigned": True, "trusted": "disclosure.trust_ui_input", "via": "ui"}


class Frozen(datetime):
    """``datetime`` whose ``now`` is :data:`NOW`."""

    @classmethod
    def now(cls, tz=None):
        return NOW if tz is None else NOW.astimezone(tz)


def _frozen_modules():
    import flows.disclose as flow

    mods = [flow]
    try:
        import records.disclosure as rec  # the receipt's own module, once there is one
        mods.append(rec)
    except ImportError:
        pass
    return [m for m in mods if hasattr(m, "datetime")]


class _Steps(dict):
    """The flow's steps by task name (``steps["check-input"]``) and as attributes
    (``steps.check_input``), as either version of the flow asks for them."""

    def __getattr__(self, name: str):
        return self[name.replace("_", "-")]


#: every scenario: the check-input verdicts in order, the inputs in order, the QA result
SCENARIOS = {
    "released": {
        "verdicts": [{"problem": None, "proof": SIGNED}, {"problem": None, "proof": TRUSTED},
                     {"problem": None, "proof": SIGNED}, {"problem": None, "proof": SIGNED}],
        "inputs": [("Selection", {"user": "carol", "keep": [1, "T2"], "comment": "the requester", "via": "ui"}),
                   ("Decision", {"user": "bob", "approve": True, "comment": "同意", "via": "cli"}),
                   ("QAOverride", {"user": "alice", "release": True, "reason": "a poster, not a person",
                                   "via": "cli"})],
        "qa_passed": False,
    },
    "released_clean": {
        "verdicts": [{"problem": None, "proof": {}}] * 3,
        "inputs": [("Selection", {"user": "carol", "keep": [1]}),
                   ("Decision", {"user": "bob", "approve": True})],
        "qa_passed": True,
    },
    "rejected": {
        "verdicts": [{"problem": None, "proof": SIGNED}, {"problem": None, "proof": SIGNED},
                     {"problem": None, "proof": SIGNED}],
        "inputs": [("Selection", {"user": "carol", "keep": [], "via": "cli"}),
                   ("Decision", {"user": "bob", "approve": False, "comment": "not the party", "via": "cli"})],
        "qa_passed": True,
    },
    "blocked": {
        "verdicts": [{"problem": None, "proof": SIGNED}] * 4,
        "inputs": [("Selection", {"user": "carol", "keep": [1], "via": "cli"}),
                   ("Decision", {"user": "bob", "approve": True, "via": "cli"}),
                   ("QAOverride", {"user": "alice", "release": False, "reason": "", "via": "cli"})],
        "qa_passed": False,
    },
    "refused": {
        "verdicts": [{"problem": "olga is not an archivist (roles: ['operator'])", "proof": SIGNED}],
        "inputs": [],
        "qa_passed": True,
    },
    "abandoned": {
        "verdicts": [{"problem": None, "proof": SIGNED}] + [{"problem": "signature: stale", "proof": {}}] * 5,
        "inputs": [("Selection", {"user": "carol", "keep": [1], "via": "cli"})] * 5,
        "qa_passed": True,
    },
}


def run_scenario(name: str, home: Path, patch) -> tuple[bytes, object]:
    """Run the flow's body on scenario ``name`` under FOOTAGE_HOME ``home``; ``patch(obj, attr,
    value)`` sets an attribute for the duration (pytest's monkeypatch.setattr, or a plain setter).
    Returns the stored receipt's bytes and the flow's return value."""
    import flows.disclose as flow
    from media.model import Event
    from media.redact import DetectionConfig
    from records.keys import disclosure_prefix
    from records.settings import load_settings
    from records.store import open_store

    sc = SCENARIOS[name]
    os.environ["FOOTAGE_HOME"] = str(home)
    os.environ["FOOTAGE_STORAGE__BACKEND"] = "local"
    verdicts, inputs = list(sc["verdicts"]), list(sc["inputs"])
    src = home / "source.mp4"
    home.mkdir(parents=True, exist_ok=True)
    src.write_bytes(b"source bytes")
    marked = home / "marked.mp4"
    marked.write_bytes(b"the watermarked copy")
    tracks = SimpleNamespace(config=DetectionConfig(), text=None, ids=lambda: [1, 2, 3, 10002], osd_boxes=None)
    entries = [Event(kind="redaction", start=1.0, end=2.5, detail={"what_en": "face", "basis": "third party"}),
               Event(kind="audio", start=3.0, end=4.0, detail={}),
               Event(kind="redaction", start=5.25, end=9.0, detail={"what_en": "licence plate", "basis": "第三方信息"})]
    qa = SimpleNamespace(passed=sc["qa_passed"], residuals=[] if sc["qa_passed"] else [object()] * 2, checked=120,
                         residual_frames=[] if sc["qa_passed"] else list(range(60)), text_residuals=[],
                         text_checked=30)
    steps = _Steps({
        "check-input": lambda *a, **k: verdicts.pop(0),
        "event": lambda *a, **k: None,
        "fetch-source": lambda *a, **k: src,
        "find-tracks": lambda *a, **k: (tracks, home / "sheet.png"),
        "publish-sheet": lambda *a, **k: "key",
        "render": lambda *a, **k: (SimpleNamespace(frames=120, masked_frames={2: 40}, out=str(home / "r.mp4")), entries),
        "qa": lambda *a, **k: qa,
        "watermark": lambda *a, **k: marked,
        "sign": lambda *a, **k: flow.sign_task.fn(*a, **k),  # the real step: [c2pa] not configured here
    })

    def wait(settings, model, key, description):
        kind, data = inputs.pop(0)
        assert kind == model.__name__, (kind, model)
        return model(**data)

    def write_log(entries, path, record, sha):
        path.write_text("{}")
        return path

    for mod in _frozen_modules():
        patch(mod, "datetime", Frozen)
    patch(flow, "_steps", lambda settings: steps)
    patch(flow, "_wait", wait)
    patch(flow, "current_run", SimpleNamespace(id=uuid.UUID(RUN)))
    patch(flow, "get_run_logger", lambda: logging.getLogger("disclose-harness"))
    patch(flow, "write_log", write_log)
    patch(flow, "now_local", lambda settings: NOW)
    result = flow.disclose_flow.fn(record=RECORD, requester="张三", reason="本人申请", archivist="alice", via="cli")
    store = open_store(load_settings())
    return store.get_bytes(disclosure_prefix(RECORD, RUN) + "receipt.json"), result


class _State:
    def __init__(self, paused: bool):
        self.paused = paused
        self.name = "Paused" if paused else "Failed"
        self.message = None if paused else "Flow run was paused and never resumed."
        self.state_details = SimpleNamespace(pause_key="approve-1" if paused else None, pause_timeout=None)

    def is_paused(self):
        return self.paused


def run_expiry(home: Path, patch, paused: bool = True) -> tuple[bytes, object]:
    """:func:`flows.disclose.expire_run` on a run that waited past its limit."""
    import flows.disclose as flow
    from records.keys import disclosure_prefix
    from records.settings import load_settings
    from records.store import open_store

    os.environ["FOOTAGE_HOME"] = str(home)
    os.environ["FOOTAGE_STORAGE__BACKEND"] = "local"
    for mod in _frozen_modules():
        patch(mod, "datetime", Frozen)
    patch(flow, "record_event", lambda *a, **k: None)
    run = SimpleNamespace(id=uuid.UUID(RUN), state=_State(paused),
                          parameters={"record": RECORD, "requester": "张三", "reason": "本人申请", "archivist": "alice",
                                      "via": "cli"})
    client = SimpleNamespace(set_flow_run_state=lambda *a, **k: None)
    settings = load_settings()
    result = flow.expire_run(settings, run, client)
    again = flow.expire_run(settings, run, client)  # idempotent: the stored receipt read back
    store = open_store(settings)
    return store.get_bytes(disclosure_prefix(RECORD, RUN) + "receipt.json"), (result, again)


def as_plain(value) -> object:
    """A flow's return value as JSON data (a model's JSON form, or the dictionary itself)."""
    if hasattr(value, "to_json_dict"):
        return value.to_json_dict()
    return json.loads(json.dumps(value, default=str))
