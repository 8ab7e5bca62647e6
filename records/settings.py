"""Configuration: one ``footage.toml`` plus ``FOOTAGE_*`` environment overrides.

Precedence, strongest first: keyword arguments, environment (``FOOTAGE_HOME``,
``FOOTAGE_<SECTION>__<KEY>``), the TOML file (``--config`` or ``FOOTAGE_CONFIG``), defaults.
S3 credentials are never read here: boto3 takes them from the standard AWS variables and
profiles. Every default is documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator, model_validator
from media.archive.policy import ArchiveSettings
from media.gaps.settings import GapSettings
from media.segment import SegmentSettings
from media.timeinfo import TimeSettings
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from records.roles import Role

class StorageSettings(BaseModel):
    backend: Literal["local", "s3"] = "local"
    bucket: str = "footage"
    endpoint_url: str | None = None
    region: str | None = None
    path_style: bool = False
    profile: str | None = None
    prefix: str = ""
    mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"
    allow_unlocked: bool = False
    # retention categories -> days; None means permanent (evidence_until)
    categories: dict[str, int | None] = Field(
        default_factory=lambda: {"routine": 183, "evidence": None, "hearing": 30 * 366}
    )
    default_category: str = "routine"
    evidence_until: str = "2199-12-31"
    min_days_after_ingest: int = 30


class IngestSettings(BaseModel):
    inbox: Path | None = None  # default: HOME/inbox
    settle_seconds: float = 2.0
    # a media file that stopped growing but is not yet whole waits this long for the rest of its
    # upload (a stalled docking station) before it is quarantined
    incomplete_wait_s: float = 3600.0
    lease_ttl_s: float = 12 * 3600.0  # an inbox file's lease, when its holder (another machine) cannot be asked
    # deprecated: the embedded runner's worker processes are `runner.workers` (this is read when
    # that is not set; see docs/scaling.md, migration)
    concurrency: int | None = None
    max_width: int = 8192
    max_height: int = 8192
    max_duration_s: float = 24 * 3600.0
    default_device: str = "unknown-device"
    qc: bool = True  # decode-level checks (media.gaps) of every new recording
    archive: bool = True  # archive master and access copy (media.archive) of every new recording
    store_retries: int = 3
    retry_delays_s: list[float] = Field(default_factory=lambda: [1.0, 5.0, 20.0])
    fixed_devices: list[str] = Field(default_factory=list)
    body_devices: list[str] = Field(default_factory=list)


class ScheduleSettings(BaseModel):
    ingest_cron: str = "0 2 * * *"
    fixity_cron: str = "0 3 * * 0"  # weekly fixity audit, Sunday 03:00
    compliance_cron: str = "0 3 1 * *"  # previous month's compliance report, the 1st at 03:00
    timezone: str = "Asia/Shanghai"


class RunnerSettings(BaseModel):
    """Where the ingest flow's tasks run (docs/scaling.md).

    No ``address``: an embedded Dask cluster of ``workers`` processes on this machine (one per
    core by default), started and stopped by the run. ``address`` (``tcp://HOST:8786`` or
    ``tls://...``): an existing Dask cluster, through prefect-dask; it needs a real Prefect server
    (``PREFECT_API_URL``).
    """

    address: str | None = None
    workers: int | None = None  # embedded: worker processes (default: every core of this machine)
    threads: int = 1  # task threads per worker process (embedded); media work is one thread per task
    connect_timeout_s: float = 30.0
    # scratch (archive masters, access copies being made) on each worker's local disk
    scratch_dir: Path | None = None  # default: HOME/work/archive
    scratch_limit_gb: float = 50.0  # per machine: a task waits while its copies would not fit
    # TLS to the scheduler (tls:// addresses): CA, this client's certificate and key (PEM files)
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    check_versions: bool = True  # refuse workers that run another Footage version


class DisclosureSettings(BaseModel):
    """The disclosure flow (flows/disclose.py): waits for people, keeps its released copies."""

    # Each wait (the archivist's selection, the supervisor's decision, a QA override) lasts at most
    # this long; a run that waited longer ends as expired (audited, nothing released).
    pause_timeout_hours: float = 7 * 24
    retention_days: int = 3 * 366  # the released copy's own retention, from its release
    qa_threshold: float = 0.5
    # Where finished steps (source, tracks, contact sheet) are kept while the run waits:
    # "auto" = the bucket with the S3 backend, else the local folder results_path.
    result_storage: Literal["auto", "local", "store"] = "auto"
    results_path: Path | None = None  # default HOME/work/disclosure-results
    # A resumed run not picked up by a `footage serve` within this many seconds is reported stuck.
    pickup_grace_s: float = 120.0
    # How often `footage serve` looks for runs that waited past pause_timeout_hours.
    expiry_check_s: float = 300.0
    # An unsigned input typed in the Prefect UI's form is refused in multi-user mode unless this
    # is true; then every receipt and report says the input was trusted unsigned.
    trust_ui_input: bool = False


class C2paSettings(BaseModel):
    """Content Credentials (C2PA, records/credentials.py, docs/credentials.md): the bureau's
    signing certificate and key for released copies, and the trust anchors that copies and
    cameras' files are checked against.

    Without ``cert_chain`` and ``private_key`` a released copy goes out unsigned: its receipt says
    ``c2pa: null`` with a warning, and so does the flow's log; ``required = true`` refuses that.
    """

    cert_chain: Path | None = None  # PEM: the signing certificate first, then intermediates (not the root)
    private_key: Path | None = None  # PEM (PKCS#8) private key of the signing certificate
    alg: Literal["es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519"] = "es256"
    tsa_url: str | None = None  # RFC 3161 time-stamp authority; None: no time-stamp (works offline)
    # PEM: the CAs a credential must chain to (the bureau's CA; camera makers' CAs for ingest)
    trust_anchors: Path | None = None
    required: bool = False  # refuse to release a copy that cannot be signed (not configured)

    @property
    def configured(self) -> bool:
        """Whether released copies can be signed."""
        return self.cert_chain is not None and self.private_key is not None


class UserSettings(BaseModel):
    """One ``[users.NAME]`` table: the user's roles and the Ed25519 key that signs their inputs."""

    roles: list[Role] = Field(default_factory=list)
    # OpenSSH one-line public key ("ssh-ed25519 AAAA... comment"); None: the user cannot sign,
    # so every role-gated input of theirs is refused in multi-user mode (records/identity.py)
    public_key: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_form(cls, value: Any) -> Any:
        # the old ``NAME = [roles]`` form still loads: roles only, no key
        return {"roles": value} if isinstance(value, (list, tuple)) else value


class IdentitySettings(BaseModel):
    """Signed inputs (records/identity.py): how far a signature's time may be from now."""

    # a signature made longer ago (or further ahead) than this is stale and refused; it is also
    # how far back the audit log is searched for a replayed signature
    clock_skew_s: float = 300.0


#: the default message of a failed or crashed run (``[notify]``): Jinja templates that Prefect's server
#: renders for each run (``flow_run``, ``flow``, ``deployment``, ``event``; ``run_url`` is added by
#: flows/notify.py: the run's page in the Prefect UI)
NOTIFY_SUBJECT = "Footage: {{ deployment.name }} run {{ flow_run.name }} {{ flow_run.state.name }}"
NOTIFY_BODY = (
    "{{ flow.name }}/{{ deployment.name }}: flow run {{ flow_run.name }} is {{ flow_run.state.name }}"
    " ({{ flow_run.state.timestamp }}).\n"
    "{{ flow_run.state.message }}\n"
    "{{ run_url }}"
)


class NotifySettings(BaseModel):
    """Failed or crashed runs of the served deployments, posted to a webhook by a Prefect
    automation that ``footage serve`` keeps (flows/notify.py, docs/operations.md)."""

    # where the notifications go; None: no notifications (footage serve removes its automation)
    webhook_url: str | None = None
    # the JSON posted: every string may hold {{subject}} and {{body}} (the rendered message)
    payload: dict[str, Any] = Field(default_factory=lambda: {"subject": "{{subject}}", "text": "{{body}}"})
    subject: str = NOTIFY_SUBJECT
    body: str = NOTIFY_BODY
    block: str = "footage-failures"  # the Prefect block (Custom Webhook) that holds the URL
    automation: str = "footage-failed-runs"  # the Prefect automation's name

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"https?://[^/\s]+", v):
            raise ValueError(f"webhook_url must be an http:// or https:// URL, not {v!r}")
        return v or None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FOOTAGE_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    home: Path = Path("./footage-data")
    storage: StorageSettings = StorageSettings()
    time: TimeSettings = TimeSettings()
    ingest: IngestSettings = IngestSettings()
    segment: SegmentSettings = SegmentSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    gaps: GapSettings = GapSettings()
    archive: ArchiveSettings = ArchiveSettings()
    disclosure: DisclosureSettings = DisclosureSettings()
    runner: RunnerSettings = RunnerSettings()
    identity: IdentitySettings = IdentitySettings()
    notify: NotifySettings = NotifySettings()
    c2pa: C2paSettings = C2paSettings()
    # user -> roles and public key; empty means single-user mode (the acting user holds every role)
    users: dict[str, UserSettings] = Field(default_factory=dict)

    @field_validator("home")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return Path(os.path.expanduser(str(v)))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get("FOOTAGE_CONFIG")
        if path:
            if not Path(path).is_file():
                raise FileNotFoundError(f"FOOTAGE_CONFIG points to {path!r}, which is not a file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    # -- derived paths of the embedded layout --------------------------------------------
    @property
    def inbox(self) -> Path:
        return self.ingest.inbox or self.home / "inbox"

    @property
    def processed(self) -> Path:
        return self.home / "processed"

    @property
    def quarantine(self) -> Path:
        return self.home / "quarantine"

    @property
    def store_root(self) -> Path:
        return self.home / "store"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def scratch_root(self) -> Path:
        """This machine's scratch folder for archive copies being made (``runner.scratch_dir``)."""
        return self.runner.scratch_dir or self.home / "work" / "archive"

    @property
    def session_break(self) -> timedelta:
        return timedelta(seconds=self.segment.session_break_s)

    def ensure_layout(self) -> None:
        for p in (self.inbox, self.processed, self.quarantine, self.store_root, self.reports):
            p.mkdir(parents=True, exist_ok=True)


def now_local(settings: Settings) -> datetime:
    """Now, in the configured zone (``time.timezone``)."""
    return datetime.now(ZoneInfo(settings.time.timezone))


def today(settings: Settings) -> str:
    """Today's date (``YYYY-MM-DD``) in the configured zone: the name of a day's report folder."""
    return now_local(settings).strftime("%Y-%m-%d")


def load_settings(config: Path | str | None = None, **overrides: Any) -> Settings:
    """The effective settings. ``config`` wins over ``FOOTAGE_CONFIG``."""
    if config is not None:
        os.environ["FOOTAGE_CONFIG"] = str(config)
    return Settings(**overrides)


# a webhook URL is a bearer secret (Slack, Teams, WeCom and DingTalk put the token in it)
SECRET_WORDS = ("secret", "password", "token", "key_id", "access_key", "credential", "webhook")
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def masked(data: Any) -> Any:
    """A copy of ``data`` with secrets replaced by ``***``: values under secret-looking keys and
    user:password parts of URLs."""
    if isinstance(data, dict):
        return {
            k: ("***" if any(w in k.lower() for w in SECRET_WORDS) and v else masked(v)) for k, v in data.items()
        }
    if isinstance(data, list):
        return [masked(v) for v in data]
    if isinstance(data, str):
        return _URL_USERINFO.sub("***@", data)
    return data
