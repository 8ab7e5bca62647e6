"""What every ``footage`` command shares: exit codes, the consoles, ``fail``, the ``--as`` and
``--key`` options, the acting-user context, signed inputs, the single-user banner and the one Rich
progress adapter.

Exit codes (docs/cli.md): 0 success, :data:`PROBLEM_EXIT` when the command ran and found or
caused a problem (a failed file, a broken audit chain, a fixity mismatch, residual faces),
:data:`USAGE_EXIT` for a usage or configuration error, :data:`DENIED_EXIT` when the acting user
lacks the role (docs/operations.md).

``records.settings`` (and what imports it: the store, the audit log, retention, findings) is
imported inside the functions that need it, here and in every command module: it imports
pydantic-settings (about a quarter of a second; no PyAV or NumPy, tests/test_layering.py), which
``footage --help`` and every usage error would otherwise pay. Prefect, onnxruntime and matplotlib
are imported the same way, by the commands that use them.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from records.roles import Refused, acting_user, mode_banner

if TYPE_CHECKING:
    from records.settings import Settings
    from storage import ObjectStore

OK_EXIT = 0
PROBLEM_EXIT = 1
USAGE_EXIT = 2
DENIED_EXIT = 3

#: Results (tables, plain lines) go to standard output, soft-wrapped so that keys and hashes stay whole.
out = Console(soft_wrap=True)
#: Progress, notes and errors go to standard error, so that ``--json`` output stays one document.
err = Console(stderr=True)

AS_HELP = "Act as this user (default: $FOOTAGE_USER, else the OS user)."
KEY_HELP = ("Sign the input with this OpenSSH Ed25519 key, in multi-user mode (default: $FOOTAGE_KEY, "
            "else ~/.ssh/id_ed25519); a .pub file signs through ssh-agent.")


def as_option() -> Any:
    """The ``--as USER`` option of every command that acts on records (a fresh one per command)."""
    return typer.Option(None, "--as", help=AS_HELP)


def key_option() -> Any:
    """The ``--key PATH`` option of every role-gated input, beside ``--as`` (docs/cli.md, identity)."""
    return typer.Option(None, "--key", help=KEY_HELP, show_default=False)


def fail(message: str, code: int = USAGE_EXIT) -> NoReturn:
    """Print ``error: MESSAGE`` on standard error (no traceback) and exit with ``code``."""
    # escaped: messages name TOML tables ("[users.li]"), which Rich would read as markup
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def authorize(settings: Settings, store: ObjectStore, user: str, action: str, record: str | None = None) -> None:
    """Exit with :data:`DENIED_EXIT` unless ``user`` may run ``action`` (the refusal is audited)."""
    from records.audit import open_audit  # imports records.settings, see the module docstring
    from records.gate import check_action

    try:
        check_action(settings, user, action, open_audit(settings, store), record=record)
    except Refused as e:
        fail(str(e), DENIED_EXIT)


def sign_input(
    settings: Settings, user: str, action: str, *, record: str | None, content: dict[str, Any],
    key: Optional[str], run_id: str | None = None, pause_key: str | None = None,
) -> dict[str, Any]:
    """The signature fields of an input that another process verifies (the disclosure flow):
    ``{"user", "signed_at", "signature", "key_fingerprint"}``, ``{}`` in single-user mode. Exits
    with :data:`DENIED_EXIT` when no signature can be made (nothing was submitted, so nothing is
    audited)."""
    from records.identity import signed_fields  # cryptography: paid by signed inputs only

    try:
        return signed_fields(settings, key_path=key, user=user, action=action, record=record,
                             run_id=run_id, pause_key=pause_key, content=content)
    except Refused as e:
        fail(str(e), DENIED_EXIT)


def signed(
    settings: Settings, store: ObjectStore, user: str, action: str, *, record: str | None,
    content: dict[str, Any], key: Optional[str], run_id: str | None = None, pause_key: str | None = None,
) -> dict[str, Any]:
    """Sign the input with ``key`` and verify it as the acting user's, before the command acts.

    Returns the proof for ``detail["proof"]`` of the command's audit event (``{}`` in
    single-user mode). A signature that cannot be made (no key file) or does not verify exits
    with :data:`DENIED_EXIT`; either refusal is audited (:func:`records.identity.verify_input`).
    """
    from records.identity import signed_fields, verify_input  # cryptography: paid by signed inputs only

    why_unsigned = None
    try:
        fields = signed_fields(settings, key_path=key, user=user, action=action, record=record,
                               run_id=run_id, pause_key=pause_key, content=content)
    except Refused as e:  # verified unsigned below, so that the refusal is audited like any other
        fields, why_unsigned = {}, str(e)
    try:
        return verify_input(settings, store, user=user, action=action, record=record, run_id=run_id,
                            pause_key=pause_key, content=content, signed_at=fields.get("signed_at"),
                            signature=fields.get("signature"), via="cli")
    except Refused as e:
        fail(f"{e}" + (f": {why_unsigned}" if why_unsigned else ""), DENIED_EXIT)


def load_settings() -> Settings:
    """The effective settings (imported here: see the module docstring)."""
    from records.settings import load_settings as load

    return load()


def context(as_user: Optional[str], action: str | None = None) -> tuple[Settings, ObjectStore, str]:
    """Settings, the opened store and the acting user, with the role for ``action`` checked.

    A store that cannot be opened (bad configuration, unreachable endpoint) is a usage error.
    """
    from records.store import open_store  # imports records.settings, see the module docstring

    settings = load_settings()
    try:
        store = open_store(settings)
    except Exception as e:  # report it plainly, without a traceback
        fail(str(e))
    user = acting_user(as_user)
    if action:
        authorize(settings, store, user, action)
    return settings, store, user


SERVER_HINT = (
    "footage serve needs a Prefect server: Prefect does not run schedules on its ephemeral server. "
    "Start one with `prefect server start` and set PREFECT_API_URL (for example "
    "`export PREFECT_API_URL=http://127.0.0.1:4200/api`), then run footage serve again."
)


def require_server() -> None:
    """Exit with :data:`USAGE_EXIT` unless a Prefect server answers at PREFECT_API_URL.

    ``footage serve`` (schedules) and ``footage disclose`` (a flow that pauses for people, driven
    from other processes) need a real server; the ephemeral one lives only inside one process.
    """
    # Prefect and httpx take seconds to import: paid by these commands only, not by every command.
    import httpx
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        fail(SERVER_HINT)
    try:
        httpx.get(url.rstrip("/") + "/health", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        fail(f"no Prefect server answers at PREFECT_API_URL={url} ({type(exc).__name__}). " + SERVER_HINT)


def banner(settings: Settings, user: str) -> None:
    """Say on standard error that the bucket is unlocked or that no users are configured."""
    text = mode_banner(settings, user)
    if text:
        err.print(f"[yellow]{text}[/]", highlight=False)


def print_json(doc: Any, indent: int | None = 1) -> None:
    """One JSON document on standard output, non-ASCII kept as is (names, Chinese text)."""
    print(json.dumps(doc, ensure_ascii=False, indent=indent, default=str))


class _RateColumn(ProgressColumn):
    """Units per second (frames per second while redacting); blank for bars without a unit."""

    def render(self, task) -> Text:
        unit = task.fields.get("unit")
        if not unit:
            return Text("")
        return Text(f"{task.speed or 0:5.1f} {unit}/s", style="magenta")


class Bars:
    """The one progress display of the command line: a Rich bar per stage or per file, on stderr.

    It takes both ways Footage reports progress:

    * as a callable ``bars(stage, done, total)``: the callback of :mod:`media.archive` and
      :mod:`media.redact` (one bar per stage: ``detect``, ``render``, ``qa``, ``remux`` ...);
    * as a :class:`flows.progress.Listener` (``file_started``/``file_step``/``file_done``): the
      ingest flow's tasks, one bar per inbox file advanced step by step.

    Parameters
    ----------
    enabled : bool
        False draws nothing (``--json`` output, or standard error not a terminal).
    unit : str
        Unit of the callable's counts, shown as a rate (``"frames"``); empty shows none.
    """

    def __init__(self, enabled: bool = True, unit: str = ""):
        self.enabled = enabled
        self.unit = unit
        self.progress = Progress(
            TextColumn("{task.description:>10}", style="cyan"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[status]}"),
            _RateColumn(),
            TimeElapsedColumn(),
            console=err,
        )
        self._ids: dict[str, Any] = {}
        self._totals: dict[str, float] = {}
        self._lock = threading.Lock()  # ingest tasks report from several threads

    def __enter__(self) -> Bars:
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop drawing (before an error message, so that it is not drawn over)."""
        if self.enabled:
            self.progress.stop()

    def _bar(self, name: str, total: float | None, unit: str = "") -> Any:
        with self._lock:
            if name not in self._ids:
                self._ids[name] = self.progress.add_task(name, total=total, status="", unit=unit)
            return self._ids[name]

    def __call__(self, stage: str, done: float, total: float) -> None:
        if not self.enabled:
            return
        bar = self._bar(stage, total or None, self.unit)
        self.progress.update(bar, completed=done, total=max(total, done) or None)

    def file_started(self, name: str, steps: int) -> None:
        if self.enabled:
            self._bar(name, steps)
            self._totals[name] = steps

    def file_step(self, name: str, step: str) -> None:
        if self.enabled and name in self._ids:
            self.progress.update(self._ids[name], advance=1, status=step)

    def file_done(self, name: str, status: str) -> None:
        if self.enabled and name in self._ids:
            self.progress.update(self._ids[name], completed=self._totals.get(name, 0), status=status)
