"""Who is acting, and may they? Roles operator, archivist, supervisor and auditor.

Users are mapped to roles in the configuration (``[users]`` in ``footage.toml``). With no users
configured Footage runs in *single-user mode*: the acting user holds every role, and every report
says so in its first lines (:func:`mode_banner`). Open-source Prefect has no user identity, so the
acting user is named on the command line (``--as``), by ``FOOTAGE_USER``, or is the OS user.

Which roles may run which action is :data:`ACTION_ROLES`, the one table every command and flow
checks: :func:`require_action` raises :class:`PermissionDenied`, which carries the refusal's
``access_denied`` audit event (:attr:`PermissionDenied.audit_event`) for the caller to write
(:func:`records.gate.check_action` does both); :func:`may` only answers, for the disclosure flow,
which records a refused input in the record's history and waits for another. This module writes
nothing and runs no import of records/ (:mod:`records.settings` imports it for :class:`Role`).

A typed name proves nothing, so in multi-user mode the role-gated inputs
(:data:`SIGNED_ACTIONS`) are also signed with the user's registered Ed25519 key and verified
before they act (:mod:`records.identity`); :func:`check_separation` keeps the approver of a
disclosure apart from the users who prepared it, whatever roles they hold. Every refusal is a
:class:`Refused` (the command line exits 3).
"""

from __future__ import annotations

import getpass
import os
from enum import Enum
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from records.settings import Settings


class Role(str, Enum):
    OPERATOR = "operator"
    ARCHIVIST = "archivist"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"


ENV_USER = "FOOTAGE_USER"

#: Which roles may run which action: the one table every command and flow checks (through
#: :func:`require_action` or :func:`may`); documented in docs/operations.md.
ACTION_ROLES: dict[str, frozenset[Role]] = {
    "ingest": frozenset({Role.OPERATOR}),
    "audit.verify": frozenset({Role.AUDITOR, Role.SUPERVISOR}),
    "audit.show": frozenset({Role.AUDITOR, Role.SUPERVISOR}),
    "case.close": frozenset({Role.ARCHIVIST}),
    "report.compliance": frozenset({Role.AUDITOR, Role.SUPERVISOR, Role.OPERATOR}),
    "report.deadlines": frozenset({Role.OPERATOR, Role.ARCHIVIST, Role.SUPERVISOR, Role.AUDITOR}),
    "status": frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.AUDITOR}),
    "storage.extend": frozenset({Role.ARCHIVIST, Role.SUPERVISOR}),
    "storage.hold": frozenset({Role.ARCHIVIST, Role.SUPERVISOR}),
    "storage.audit": frozenset({Role.AUDITOR, Role.SUPERVISOR, Role.ARCHIVIST}),
    # The disclosure flow (article 31) asks at each of its steps; approving also needs a user
    # other than the ones who prepared the copy, which the flow checks itself.
    "disclose.request": frozenset({Role.ARCHIVIST}),
    "disclose.select": frozenset({Role.ARCHIVIST}),
    "disclose.approve": frozenset({Role.SUPERVISOR}),
    "disclose.override": frozenset({Role.ARCHIVIST}),
}


#: The role-gated *inputs*: actions that change records or release them. In multi-user mode each
#: carries an Ed25519 signature of its user (records/identity.py), verified before it acts; the
#: other actions only read and are checked by role alone.
SIGNED_ACTIONS: frozenset[str] = frozenset({
    "case.close", "storage.extend", "storage.hold",
    "disclose.request", "disclose.select", "disclose.approve", "disclose.override",
})


class Refused(Exception):
    """An input or action refused, with a clear reason for the user (the CLI exits 3)."""


class PermissionDenied(Refused):
    """The acting user lacks every role an action accepts."""

    def __init__(self, user: str, needed: Iterable[Role], action: str | None = None, held: Iterable[Role] = (),
                 record: str | None = None):
        self.user = user
        self.needed = sorted(r.value for r in needed)
        self.held = sorted(r.value for r in held)
        self.action = action
        self.record = record
        what = f" {action}" if action else ""
        has = ", ".join(self.held) or "no role"
        super().__init__(
            f"user {user!r} may not{what}: it needs the role {' or '.join(self.needed)}, "
            f"and {user!r} has {has} (users and roles are set in [users] of footage.toml)"
        )

    @property
    def audit_event(self) -> dict[str, Any]:
        """The ``access_denied`` audit event of this refusal, as :meth:`records.audit.AuditLog.append_many`
        takes it."""
        return {"kind": "access_denied", "user": self.user, "record": self.record,
                "detail": {"action": self.action, "needed": self.needed, "held": self.held}}


def acting_user(as_user: str | None = None) -> str:
    """The acting user: ``--as`` first, then ``FOOTAGE_USER``, then the OS user."""
    for candidate in (as_user, os.environ.get(ENV_USER)):
        if candidate and candidate.strip():
            return candidate.strip()
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): getuser raises
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def single_user_mode(settings: Settings) -> bool:
    """True when no users are configured: the acting user then holds every role."""
    return not settings.users


def roles_of(settings: Settings, user: str) -> set[Role]:
    """The roles ``user`` holds (every role in single-user mode)."""
    if single_user_mode(settings):
        return set(Role)
    entry = settings.users.get(user)
    return set(entry.roles) if entry is not None else set()


def has_role(settings: Settings, user: str, role: Role | Iterable[Role]) -> bool:
    """True when ``user`` holds ``role`` (or any of several)."""
    wanted = {role} if isinstance(role, Role) else set(role)
    return bool(roles_of(settings, user) & wanted)


def require_role(
    settings: Settings,
    user: str,
    role: Role | Iterable[Role],
    *,
    action: str | None = None,
    record: str | None = None,
) -> None:
    """Return quietly when ``user`` holds ``role`` (or any of several); otherwise raise
    :class:`PermissionDenied`, whose :attr:`~PermissionDenied.audit_event` the caller writes to
    the audit log (:func:`records.gate.check_action`)."""
    wanted = {role} if isinstance(role, Role) else set(role)
    if not wanted:
        raise ValueError("require_role needs at least one role")
    if not has_role(settings, user, wanted):
        raise PermissionDenied(user, wanted, action, roles_of(settings, user), record)


def require_action(settings: Settings, user: str, action: str, *, record: str | None = None) -> None:
    """:func:`require_role` with the roles :data:`ACTION_ROLES` lists for ``action``."""
    require_role(settings, user, ACTION_ROLES[action], action=action, record=record)


def may(settings: Settings, user: str, action: str) -> bool:
    """True when ``user`` holds one of the roles :data:`ACTION_ROLES` lists for ``action``.

    For a caller that records a refusal its own way (the disclosure flow notes it in the
    record's history and waits for another input) instead of raising.
    """
    return has_role(settings, user, ACTION_ROLES[action])


def check_separation(approver: str, requester: str | None, selector: str | None) -> None:
    """Raise :class:`Refused` unless ``approver`` is someone other than the archivist who
    requested the disclosure and the one who selected what it shows.

    Roles do not decide this: a user holding both the archivist and the supervisor roles still
    may not approve their own request or selection (separation of duties, article 31).
    """
    approver = approver.strip()
    for who, what in ((requester, "requested"), (selector, "made the selection of")):
        if who is not None and approver == who.strip():
            raise Refused(f"{approver} {what} this disclosure and may not approve it: "
                          "the approver must be another user (separation of duties)")


BANNER = {
    "en": "Single-user mode: no users are configured, so the acting user {user} holds every role.",
    "zh-CN": "单用户模式：未配置用户，当前用户 {user} 拥有全部角色。",
}


UNLOCKED = {
    "en": "WARNING: the S3 bucket has no Object Lock (--allow-unlocked): records are not WORM-protected.",
    "zh-CN": "警告：S3 存储桶未启用对象锁定（--allow-unlocked），记录不受 WORM 保护。",
}


def mode_banner(settings: Settings, user: str | None = None, lang: str = "en") -> str | None:
    """The lines every report starts with: an unlocked bucket, single-user mode; None otherwise."""
    lines = []
    if settings.storage.backend == "s3" and settings.storage.allow_unlocked:
        lines.append(UNLOCKED.get(lang, UNLOCKED["en"]))
    if single_user_mode(settings):
        lines.append(BANNER.get(lang, BANNER["en"]).format(user=user or acting_user()))
    return "\n> ".join(lines) or None
