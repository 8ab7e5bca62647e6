"""The role check of a command or a flow, its refusal written to the audit log.

:mod:`records.roles` only answers and raises, and :mod:`records.audit` knows nothing of roles:
this is where the two meet, called by the flows and the command line with the audit log they
opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from records.audit import AuditLog
from records.roles import PermissionDenied, require_action

if TYPE_CHECKING:
    from records.settings import Settings


def check_action(settings: Settings, user: str, action: str, audit: AuditLog, *, record: str | None = None) -> None:
    """Return quietly when ``user`` may run ``action`` (:data:`records.roles.ACTION_ROLES`);
    otherwise write the ``access_denied`` event to ``audit`` and raise :class:`PermissionDenied`."""
    try:
        require_action(settings, user, action, record=record)
    except PermissionDenied as denied:
        audit.append_many([denied.audit_event])
        raise
