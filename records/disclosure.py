"""The disclosure receipt: what one run of the disclosure flow (:mod:`flows.disclose`) released,
to whom, decided by whom and with which proof, or why nothing was released.

Stored as ``disclosures/<record>/<run>/receipt.json`` (:func:`records.keys.disclosure_prefix`),
schema ``footage.disclosure-receipt/1``, keys sorted at every level (:meth:`Receipt.to_json`);
docs/disclosure.md, "What the receipt proves", says what each part means. The flow builds it step
by step: a part is written once its step happened (``selected_by`` once a selection was
accepted, ``qa`` once QA ran ...), so a receipt that ends early lacks the later parts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import ConfigDict, Field

from records.contract import Contract, IsoTime

SCHEMA = "footage.disclosure-receipt/1"

#: how a disclosure run ends (``open`` while it runs)
Status = Literal["open", "released", "rejected", "blocked", "abandoned", "refused", "expired"]

#: what a receipt says when inputs were typed in the Prefect UI and not signed
UNSIGNED_NOTICE = ("These inputs were typed in the Prefect UI and not signed: the names in them are not proven. / "
                   "这些输入来自 Prefect 界面且未签名，其中的用户名未经证明。")


class _Part(Contract):
    """A part of a receipt; fields a later version adds are kept when read and written again."""

    model_config = ConfigDict(extra="allow")


class Proof(_Part):
    """What a receipt says of an input's proof: signed, with the key's fingerprint, the signing
    time, the payload's SHA-256 and the signature; or unsigned, trusted by the setting named in
    ``trusted`` (an input typed in the UI), or in single-user mode (``mode``). The full proof is in
    the input's audit event."""

    OPTIONAL = frozenset({"mode", "trusted", "via", "key_fingerprint", "signed_at", "payload_sha256", "signature"})

    signed: bool
    mode: str | None = None
    trusted: str | None = None
    via: str | None = None
    key_fingerprint: str | None = None
    signed_at: str | None = None
    payload_sha256: str | None = None
    signature: str | None = None

    @classmethod
    def of(cls, proof: Mapping[str, Any]) -> "Proof":
        """The summary of a proof from :func:`records.identity.verify_input` (``{}``: single-user mode)."""
        if not proof:
            return cls(signed=False, mode="single-user")
        if proof.get("unsigned"):
            return cls(signed=False, trusted=proof.get("trusted"), via=proof.get("via"))
        return cls(signed=True, **{k: proof.get(k) for k in ("key_fingerprint", "signed_at", "payload_sha256",
                                                              "signature")})


class Actor(_Part):
    """Who gave an input (``user``), how (``via``: ``cli`` or ``ui``) and its proof; the request's
    maker is ``requested_by`` (its proof once the request was accepted)."""

    OPTIONAL = frozenset({"proof"})

    user: str | None
    via: str | None
    proof: Proof | None = None


class Selected(Actor):
    """The archivist who chose what stays visible."""

    comment: str


class Decided(Actor):
    """The supervisor who approved or rejected the release."""

    approve: bool
    comment: str


class Override(Actor):
    """An archivist's written decision after QA found faces or text: ``release`` asked for, and
    ``accepted`` when it came with a reason."""

    release: bool
    reason: str
    accepted: bool


class QAResult(_Part):
    """The QA pass over the rendered copy: residual faces and text boxes outside the keep-list,
    the frames checked, the first residual frames; ``override`` where QA did not pass."""

    OPTIONAL = frozenset({"override"})

    passed: bool
    residuals: int
    frames: int
    residual_frames: list[int]
    text_residuals: int
    text_frames: int
    override: Override | None = None


class Output(_Part):
    """The released copy as stored."""

    key: str
    sha256: str
    size: int
    retain_until: IsoTime
    version_id: str | None = None


class Masked(_Part):
    """What was masked, when (seconds in the copy) and on what basis."""

    what: str
    start: float | None = None
    end: float | None = None
    basis: str


class Watermark(_Part):
    """The visible notice on the copy: disclosed to whom, on which (local) date."""

    to: str
    date: date


class UnsignedInput(_Part):
    """Which steps' inputs were trusted unsigned (typed in the Prefect UI) and the setting that
    allowed it."""

    steps: list[str]
    setting: str = "disclosure.trust_ui_input"
    notice: str = UNSIGNED_NOTICE


class Expired(_Part):
    """A run that waited past ``disclosure.pause_timeout_hours``: for which input, the limit."""

    waited_for: str | None = None
    limit_hours: int | float


class SignedCopy(_Part):
    """The manifest a released copy carries (the receipt's ``c2pa``)."""

    manifest: str  # the active manifest's label (urn:c2pa:...)
    manifest_sha256: str  # SHA-256 of the signed manifest store, as embedded
    signer: str | None = None
    issuer: str | None = None
    alg: str
    claim_generator: str
    time_stamped: bool = False


#: what a receipt says when a copy was released without Content Credentials
UNSIGNED_COPY = ("Released without Content Credentials: [c2pa] is not configured, so nothing but the store and the audit "
                 "log vouches for this copy's bytes. / 发布的副本没有内容凭证（未配置 [c2pa]）。")


class Receipt(Contract):
    """The receipt of one disclosure run (see the module docstring).

    ``why`` says why a request was refused; ``expired`` what an expired run waited for.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, serialize_by_alias=True)
    OPTIONAL = frozenset({"closed_at", "why", "unsigned_ui_input", "selected_by", "decided_by", "qa", "output",
                          "source_sha256", "masked", "kept", "watermark", "expired", "c2pa", "warnings"})

    schema_: str = Field(SCHEMA, alias="schema")
    run: str
    record: str | None
    requester: str | None
    reason: str | None
    requested_by: Actor
    status: Status
    closed_at: IsoTime | None = None
    why: str | None = None
    unsigned_ui_input: UnsignedInput | None = None
    selected_by: Selected | None = None
    decided_by: Decided | None = None
    qa: QAResult | None = None
    output: Output | None = None
    source_sha256: str | None = None
    masked: list[Masked] = Field(default_factory=list)
    kept: list[int] = Field(default_factory=list)
    watermark: Watermark | None = None
    expired: Expired | None = None
    # the released copy's Content Credentials (records/credentials.py); null: released unsigned
    c2pa: SignedCopy | None = None
    warnings: list[str] = Field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        """The receipt as JSON data, keys sorted at every level, as it is stored."""
        return _sorted(self.model_dump(mode="json"))

    def to_json(self) -> bytes:
        """The stored object ``receipt.json``."""
        return json.dumps(self.to_json_dict(), ensure_ascii=False, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> "Receipt":
        """A stored receipt."""
        return cls.model_validate_json(data)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value
