"""Content Credentials (C2PA): the bureau's signed manifest on every released copy, and the
camera's own manifest read and checked at ingest (docs/credentials.md).

* :func:`sign_copy` signs a released copy (:mod:`flows.disclose`) with the certificate and key of
  ``[c2pa]`` (:class:`records.settings.C2paSettings`): the original is the ingredient (its
  SHA-256 and store key, and the camera's manifest when it had one), the actions say what was
  done (each masked track and audio range, the visible notice), the claim generator is Footage
  with its version, and the assertion ``org.footage.disclosure`` names the record, the run and
  the receipt.
* :func:`verify_release` checks a copy: its manifest (signature, hard binding to the bytes,
  trust in the configured anchors), then the record, the receipt and the audit log it points to
  (``footage disclose verify FILE``).
* :func:`read_credentials` reads a camera file's manifest at ingest (:class:`Credentials`, the
  manifest's ``credentials``); :func:`credential_findings` makes an invalid one a
  ``c2pa_invalid`` finding. A file is never refused for its credentials.

c2pa-python (c2pa-rs) is imported inside the functions: its native library loads only where
credentials are made or read.

Why ``c2pa.edited`` and not ``c2pa.redacted`` / ``c2pa.watermarked``: in the C2PA specification
(and in c2pa-rs, which refuses such a claim at signing) ``c2pa.redacted`` is the removal of an
*assertion* from an ingredient's manifest and must point to it, and ``c2pa.watermarked`` is an
invisible watermark bound by a soft-binding assertion. A masked face or a visible notice is an
edit of the content: each is a ``c2pa.edited`` action whose ``parameters`` carry
``org.footage.redaction`` (what, when, reason, legal basis) or ``org.footage.watermark``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from media.probe import sha256_file
from records.contract import Contract
from records.disclosure import SignedCopy
from records.settings import C2paSettings, Settings

MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg", ".png": "image/png", ".avi": "video/avi", ".wav": "audio/wav"}
ASSERTION = "org.footage.disclosure"  # the bureau's own assertion on a released copy
GENERATOR = "Footage"


class C2paError(RuntimeError):
    """Content Credentials could not be made (configuration, key, certificate, file)."""


def footage_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("footage")
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "unknown"


def mime_of(path: Path | str) -> str:
    return MIME.get(Path(path).suffix.lower(), "video/mp4")


# --- reading ---------------------------------------------------------------------------------------


class Credentials(Contract):
    """What a file's C2PA manifest says and whether it holds (the record manifest's ``credentials``).

    ``state`` is c2pa-rs's: ``Trusted`` (valid, signer chains to ``c2pa.trust_anchors``),
    ``Valid`` (valid signature and binding, signer not in the anchors) or ``Invalid`` (a
    failure: ``failures`` has the codes, e.g. ``assertion.bmffHash.mismatch`` for changed bytes).
    """

    model_config = ConfigDict(extra="allow")

    state: str | None = None
    valid: bool = False
    trusted: bool = False
    label: str | None = None
    signer: str | None = None  # the signing certificate's common name
    issuer: str | None = None  # its organisation
    alg: str | None = None
    signed_at: str | None = None  # the signature's time-stamp, when it had one
    claim_generator: str | None = None
    captured_at: str | None = None  # what the manifest claims: c2pa.created's ``when`` or EXIF DateTimeOriginal
    failures: list[str] = Field(default_factory=list)
    error: str | None = None  # the manifest could not be read at all


def reader_context(cfg: C2paSettings):
    """A c2pa Context that checks trust against ``cfg.trust_anchors`` (when set)."""
    import c2pa

    conf: dict[str, Any] = {"verify": {"verify_trust": True}}
    if cfg.trust_anchors is not None:
        conf["trust"] = {"trust_anchors": Path(cfg.trust_anchors).read_text()}
    return c2pa.Context(settings=c2pa.Settings.from_dict(conf))


def _read(path: Path, cfg: C2paSettings) -> tuple[dict | None, Credentials | None]:
    """The active manifest and the credentials of ``path``; ``(None, None)`` without a manifest."""
    import c2pa

    try:
        with open(path, "rb") as f:
            reader = c2pa.Reader.try_create(mime_of(path), f, None, reader_context(cfg))
            if reader is None:
                return None, None
            with reader:
                active = reader.get_active_manifest() or {}
                state = reader.get_validation_state()
                results = reader.get_validation_results() or {}
    except c2pa.C2paError as exc:
        return None, Credentials(state="Invalid", error=str(exc).strip()[:500])
    failures = [f.get("code", "") for f in (results.get("activeManifest") or {}).get("failure", [])]
    sig = active.get("signature_info") or {}
    gen = (active.get("claim_generator_info") or [{}])[0]
    creds = Credentials(
        state=state, valid=state in ("Valid", "Trusted"), trusted=state == "Trusted", label=active.get("label"),
        signer=sig.get("common_name"), issuer=sig.get("issuer"), alg=sig.get("alg"), signed_at=sig.get("time"),
        claim_generator=" ".join(str(v) for v in (gen.get("name"), gen.get("version")) if v) or active.get(
            "claim_generator"),
        captured_at=_captured_at(active), failures=failures)
    return active, creds


def _captured_at(active: dict) -> str | None:
    for a in active.get("assertions") or []:
        data = a.get("data") or {}
        if a.get("label", "").startswith("c2pa.actions"):
            for act in data.get("actions") or []:
                if act.get("action") == "c2pa.created" and act.get("when"):
                    return str(act["when"])
        if a.get("label") == "stds.exif" and data.get("exif:DateTimeOriginal"):
            return str(data["exif:DateTimeOriginal"])
    return None


def read_credentials(path: Path | str, settings: Settings) -> Credentials | None:
    """The C2PA credentials of a camera's file, or None when it has none. Never raises for a bad
    manifest: that is :attr:`Credentials.state` ``Invalid`` (a ``c2pa_invalid`` finding)."""
    return _read(Path(path), settings.c2pa)[1]


def credential_findings(creds: Credentials | None, file: str, device: str | None = None) -> list[dict[str, Any]]:
    """The gap report's ``c2pa_invalid`` finding of a file whose manifest does not hold (or none)."""
    if creds is None or creds.valid:
        return []
    return [{"kind": "c2pa_invalid", "file": file, "device": device, "start": None, "end": None, "at": None,
             "until": None, "rule": "c2pa", "id": "c2pa",
             "detail": {"state": creds.state, "failures": creds.failures, "signer": creds.signer,
                        "error": creds.error, "label": creds.label}}]


def attach_credentials(manifest, path: Path | str, settings: Settings):
    """The ingest's hook: ``manifest`` (a :class:`records.manifest.Manifest` being written) with
    the credentials of its original at ``path`` and, when they do not hold, a ``c2pa_invalid``
    finding. Never raises: a file whose manifest cannot even be read is kept, with the error."""
    try:
        creds = read_credentials(path, settings)
    except Exception as exc:  # noqa: BLE001 (a reader failure must not cost the file)
        creds = Credentials(state="Invalid", error=f"{type(exc).__name__}: {exc}"[:500])
    if creds is None:
        return manifest
    manifest.credentials = creds
    rec = manifest.recording
    manifest.findings = [*manifest.findings, *credential_findings(creds, rec.name, rec.device_id)]
    return manifest


# --- signing ---------------------------------------------------------------------------------------


def _pem_chain(cfg: C2paSettings) -> tuple[bytes, bytes]:
    if not cfg.configured:
        raise C2paError("[c2pa] cert_chain and private_key are not configured")
    try:
        return Path(cfg.cert_chain).read_bytes(), Path(cfg.private_key).read_bytes()
    except OSError as exc:
        raise C2paError(f"[c2pa] certificate or key unreadable: {exc}") from exc


def _subject(chain: bytes) -> tuple[str | None, str | None]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_pem_x509_certificates(chain)[0]
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return (str(cn[0].value) if cn else None), (str(org[0].value) if org else None)


def redaction_actions(entries: Iterable[Any]) -> list[dict[str, Any]]:
    """One ``c2pa.edited`` action per masked track, manual mask and audio range of the redaction
    log (:func:`media.redact.redaction_log`; kept tracks are not edits)."""
    out = []
    for e in entries:
        if e.kind != "redaction":
            continue
        d = e.detail
        what = "audio" if d.get("audio") else "video"
        out.append({"action": "c2pa.edited", "description": f"redacted / 已遮蔽: {d.get('what_en')} ({d.get('what_zh')})",
                    "parameters": {"org.footage.redaction": {
                        "what": d.get("what_en"), "what_zh": d.get("what_zh"), "media": what,
                        "start": e.start, "end": e.end, "reason": d.get("reason"), "basis": d.get("basis"),
                        "basis_en": d.get("basis_en"), "basis_zh": d.get("basis_zh"),
                        **({"track": d["track"]} if "track" in d else {})}}})
    return out


def sign_copy(settings: Settings, src: Path, dst: Path, *, original: Path, record: str, source_key: str | None,
              run: str, receipt_key: str, entries: Iterable[Any], watermark: dict[str, Any]) -> SignedCopy:
    """Sign ``src`` (the watermarked copy) into ``dst`` with the bureau's certificate.

    ``original`` is the record's file (the ingredient: its own manifest comes along when the
    camera signed it), ``record`` its SHA-256, ``source_key`` its store key; ``entries`` the
    redaction log, ``watermark`` what the visible notice says (``to``, ``date``).
    """
    import c2pa

    cfg = settings.c2pa
    chain, key = _pem_chain(cfg)
    version = footage_version()
    actions = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["original"]},
                "description": "the record's original / 记录原件"},
               *redaction_actions(entries),
               {"action": "c2pa.edited", "description": "visible notice / 可见标注: disclosed to "
                f"{watermark.get('to')} on {watermark.get('date')}, not for publication",
                "parameters": {"org.footage.watermark": {k: str(v) for k, v in watermark.items()}}}]
    manifest = {
        "claim_generator_info": [{"name": GENERATOR, "version": version}],
        "title": Path(receipt_key).parent.name + ".mp4", "format": mime_of(src),
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            {"label": ASSERTION, "data": {"record": record, "source_sha256": record, "source_key": source_key,
                                          "run": run, "receipt": receipt_key, "generator": f"{GENERATOR} {version}"}},
        ],
    }
    ingredient = {"title": Path(source_key or original.name).name, "relationship": "parentOf",
                  "label": "original", "instance_id": f"footage:sha256:{record}",
                  "description": f"record {record}, stored as {source_key}"}
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(cfg.alg, chain, key, cfg.tsa_url))
        with signer, c2pa.Builder(manifest) as builder:
            with open(original, "rb") as f:
                builder.add_ingredient(ingredient, mime_of(original), f)
            with open(src, "rb") as s, open(dst, "w+b") as d:
                store = builder.sign(signer, mime_of(src), s, d)
    except c2pa.C2paError as exc:
        raise C2paError(f"signing {src.name} failed: {str(exc).strip()[:500]}") from exc
    active, creds = _read(dst, cfg)
    if active is None or creds is None or not creds.valid:
        raise C2paError(f"the signed copy does not validate: {creds.failures if creds else 'no manifest'}")
    cn, org = _subject(chain)
    return SignedCopy(manifest=creds.label, manifest_sha256=hashlib.sha256(store).hexdigest(), signer=cn,
                      issuer=org, alg=cfg.alg, claim_generator=f"{GENERATOR} {version}",
                      time_stamped=cfg.tsa_url is not None)


# --- verifying a released copy ---------------------------------------------------------------------


class Check(Contract):
    """One check of :func:`verify_release`, said in English and Chinese."""

    name: str
    ok: bool
    en: str
    zh: str


class ReleaseVerification(Contract):
    """What ``footage disclose verify FILE`` found: ``ok`` only when every check holds."""

    file: str
    sha256: str
    ok: bool = False
    record: str | None = None
    run: str | None = None
    credentials: Credentials | None = None
    checks: list[Check] = Field(default_factory=list)

    def add(self, name: str, ok: bool, en: str, zh: str) -> bool:
        self.checks.append(Check(name=name, ok=ok, en=en, zh=zh))
        return ok


def verify_release(settings: Settings, path: Path | str, store=None) -> ReleaseVerification:
    """Check a released copy against its manifest, the store and the audit log.

    In order: a manifest is there; it validates (signature, hard binding: one changed byte fails)
    and its signer chains to ``c2pa.trust_anchors``; it is Footage's (``org.footage.disclosure``);
    the receipt of the run it names exists, says ``released``, with this file's SHA-256 and this
    manifest; the audit log's ``disclosure_released`` event of that run says the same.
    """
    from records.audit import open_audit
    from records.disclosure import Receipt
    from records.store import open_store

    path = Path(path)
    v = ReleaseVerification(file=str(path), sha256=sha256_file(path))
    active, creds = _read(path, settings.c2pa)
    v.credentials = creds
    if creds is None:
        v.add("manifest", False, "no Content Credentials (C2PA manifest) in the file", "文件中没有内容凭证（C2PA 清单）")
        return v
    if not v.add("valid", creds.valid, f"manifest {creds.state}: signature and binding to the bytes"
                 + (f" fail: {', '.join(creds.failures) or creds.error}" if not creds.valid else " hold"),
                 "清单" + ("有效：签名与文件内容一致" if creds.valid else f"无效：{', '.join(creds.failures) or creds.error}")):
        return v
    anchors = settings.c2pa.trust_anchors
    v.add("trusted", creds.trusted,
          f"signer {creds.signer} ({creds.issuer}) " + ("chains to the configured trust anchors" if creds.trusted
                                                        else f"is not trusted (anchors: {anchors or 'not configured'})"),
          f"签名者 {creds.signer}（{creds.issuer}）" + ("属于配置的信任根" if creds.trusted else "不受信任"))
    ours = next((a.get("data") or {} for a in (active or {}).get("assertions") or [] if a.get("label") == ASSERTION),
                None)
    if not v.add("ours", ours is not None and bool(ours.get("record")) and bool(ours.get("run")),
                 "a Footage disclosure manifest" if ours else "not a Footage disclosure manifest",
                 "本系统出具的披露清单" if ours else "不是本系统出具的披露清单"):
        return v
    v.record, v.run = ours["record"], ours["run"]
    store = store or open_store(settings)
    key = ours.get("receipt") or ""
    try:
        receipt = Receipt.from_json(store.get_bytes(key))
    except Exception as exc:  # missing, unreadable: both mean the store does not vouch for it
        v.add("receipt", False, f"no receipt {key} in the store ({type(exc).__name__})", f"存储中没有回执 {key}")
        return v
    if receipt.record != v.record or receipt.run != v.run:
        v.add("receipt", False, f"receipt {key} is of another record or run", f"回执 {key} 属于其他记录或流程")
        return v
    out_sha = receipt.output.sha256 if receipt.output else None
    signed = getattr(receipt, "c2pa", None)
    label = signed.manifest if signed is not None else None
    v.add("receipt", receipt.status == "released" and out_sha == v.sha256 and label == creds.label,
          f"receipt {key}: status {receipt.status}, copy sha256 {'matches' if out_sha == v.sha256 else 'differs'}, "
          f"manifest {'matches' if label == creds.label else 'differs'}",
          f"回执 {key}：状态 {receipt.status}，副本哈希{'一致' if out_sha == v.sha256 else '不一致'}，"
          f"清单{'一致' if label == creds.label else '不一致'}")
    try:
        events = [e for e in open_audit(settings, store).events(record=v.record)
                  if e.get("kind") == "disclosure_released" and (e.get("detail") or {}).get("run") == v.run]
    except Exception as exc:  # an unreadable log vouches for nothing
        v.add("audit", False, f"audit log unreadable: {exc}", f"审计日志无法读取：{exc}")
        return v
    d = (events[-1].get("detail") or {}) if events else {}
    c2 = d.get("c2pa") or {}
    ok = bool(events) and d.get("sha256") == v.sha256 and c2.get("manifest") == creds.label and (
        signed is None or c2.get("manifest_sha256") == signed.manifest_sha256)
    v.add("audit", ok, "audit log: disclosure_released " + ("agrees (copy sha256, manifest)" if ok else
                                                            "missing or disagrees"),
          "审计日志：披露发布事件" + ("一致（副本哈希、清单）" if ok else "缺失或不一致"))
    v.ok = all(c.ok for c in v.checks)
    return v


def manifest_json(path: Path | str, settings: Settings) -> str | None:
    """The whole manifest store of a file as JSON (for ``--json`` output and debugging)."""
    import c2pa

    with open(path, "rb") as f:
        reader = c2pa.Reader.try_create(mime_of(path), f, None, reader_context(settings.c2pa))
        if reader is None:
            return None
        with reader:
            return reader.json()


__all__ = ["ASSERTION", "C2paError", "Check", "Credentials", "ReleaseVerification", "SignedCopy", "attach_credentials",
           "credential_findings", "manifest_json", "read_credentials", "reader_context", "redaction_actions",
           "sign_copy", "verify_release"]
