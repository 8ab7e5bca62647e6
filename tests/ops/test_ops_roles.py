"""Roles: who is acting, single-user mode, and every refusal (with its audit event)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from records.audit import open_audit
from records.gate import check_action
from records.settings import Role, load_settings
from records.roles import (
    ACTION_ROLES,
    PermissionDenied,
    acting_user,
    may,
    mode_banner,
    require_action,
    require_role,
    single_user_mode,
)


def test_acting_user_precedence(monkeypatch):
    monkeypatch.setenv("FOOTAGE_USER", "from-env")
    assert acting_user("cli") == "cli"
    assert acting_user(None) == "from-env"
    monkeypatch.delenv("FOOTAGE_USER")
    monkeypatch.setenv("USER", "osuser")
    monkeypatch.setenv("LOGNAME", "osuser")
    assert acting_user(None) == "osuser"


def test_single_user_mode_holds_every_role(settings, store):
    assert single_user_mode(settings)
    for role in Role:
        require_role(settings, "anyone", role)
    check_action(settings, "anyone", "ingest", open_audit(settings, store))
    assert open_audit(settings, store).events() == []
    assert "single-user" in mode_banner(settings, "anyone").lower()
    assert "单用户模式" in mode_banner(settings, "anyone", "zh-CN")


def test_no_banner_with_users(users, footage_home):
    s = load_settings()
    assert not single_user_mode(s) and mode_banner(s, "aud") is None


#: Who may run what, written out by hand from docs/operations.md (not read from ACTION_ROLES,
#: so that a wrong entry in the table fails here). Users of the ``users`` fixture: olga operator,
#: arne archivist, sven supervisor, aud auditor, nobody without a role.
ALLOWED = {
    "ingest": {"olga"},
    "audit.verify": {"aud", "sven"},
    "audit.show": {"aud", "sven"},
    "case.close": {"arne"},
    "report.compliance": {"aud", "sven", "olga"},
    "report.deadlines": {"olga", "arne", "sven", "aud"},
    "status": {"olga", "sven", "aud"},
    "storage.extend": {"arne", "sven"},
    "storage.hold": {"arne", "sven"},
    "storage.audit": {"aud", "sven", "arne"},
    "disclose.request": {"arne"},
    "disclose.select": {"arne"},
    "disclose.approve": {"sven"},
    "disclose.override": {"arne"},
}
USERS = ("olga", "arne", "sven", "aud", "nobody")
ROLE_OF = {"olga": "operator", "arne": "archivist", "sven": "supervisor", "aud": "auditor"}


def _refusals():
    """(action, user) for every action and every configured user the table above refuses."""
    for action, allowed in ALLOWED.items():
        for user in USERS:
            if user not in allowed:
                yield action, user


def test_the_table_names_every_action_and_no_other():
    assert set(ACTION_ROLES) == set(ALLOWED)


@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_allowed_users_are_exactly_the_documented_ones(users, footage_home, action):
    settings = load_settings()
    assert {u for u in USERS if may(settings, u, action)} == ALLOWED[action]


@pytest.mark.parametrize("action, user", list(_refusals()))
def test_every_refusal_is_an_audit_event(users, footage_home, action, user):
    from records.store import open_store

    settings = load_settings()
    store = open_store(settings)
    with pytest.raises(PermissionDenied) as info:
        check_action(settings, user, action, open_audit(settings, store), record="r" * 64)
    msg = str(info.value)
    assert user in msg and action in msg
    assert all(ROLE_OF[u] in msg for u in ALLOWED[action])
    events = open_audit(settings, store).events()
    assert len(events) == 1
    e = events[0]
    assert e["kind"] == "access_denied" and e["user"] == user and e["detail"]["action"] == action
    assert e["record"] == "r" * 64 and e["detail"]["needed"] == sorted({ROLE_OF[u] for u in ALLOWED[action]})
    assert open_audit(settings, store).verify().ok


def test_the_role_check_only_raises(users, footage_home):
    """records.roles writes nothing: the refusal carries its audit event for the caller to write."""
    from records.store import open_store

    settings = load_settings()
    store = open_store(settings)
    with pytest.raises(PermissionDenied) as info:
        require_action(settings, "nobody", "case.close", record="c" * 64)
    assert open_audit(settings, store).events() == []
    assert info.value.audit_event == {"kind": "access_denied", "user": "nobody", "record": "c" * 64,
                                      "detail": {"action": "case.close", "needed": ["archivist"], "held": []}}


def test_allowed_users_pass_quietly(users, footage_home):
    from records.store import open_store

    settings = load_settings()
    store = open_store(settings)
    check_action(settings, "aud", "audit.verify", open_audit(settings, store))
    require_action(settings, "arne", "case.close")
    require_role(settings, "olga", [Role.AUDITOR, Role.OPERATOR])
    assert open_audit(settings, store).events() == []


CLI_COMMANDS = {
    "audit.verify": ["audit", "verify"],
    "audit.show": ["audit", "show"],
    "case.close": ["case", "close", "C-1", "--date", "2026-10-01"],
    "report.compliance": ["report", "compliance", "--month", "2026-10"],
    "report.deadlines": ["report", "deadlines"],
    "status": ["status"],
    "storage.audit": ["storage", "audit"],
}


@pytest.mark.parametrize("action", sorted(CLI_COMMANDS))
def test_cli_refuses_with_a_clear_message(users, footage_home, action, monkeypatch):
    from flows.cli import app
    from records.store import open_store

    refused = next(u for a, u in _refusals() if a == action)
    result = CliRunner().invoke(app, CLI_COMMANDS[action] + ["--as", refused])
    assert result.exit_code == 3, result.output
    assert "may not" in result.output and refused in result.output
    settings = load_settings()
    events = open_audit(settings, open_store(settings)).events()
    assert [(e["kind"], e["user"], e["detail"]["action"]) for e in events] == [("access_denied", refused, action)]
    # the environment variable names the acting user too
    monkeypatch.setenv("FOOTAGE_USER", refused)
    assert CliRunner().invoke(app, CLI_COMMANDS[action]).exit_code == 3


def test_signed_actions_are_gated_actions():
    from records.roles import SIGNED_ACTIONS

    # written out by hand: the inputs that change or release records (docs/cli.md, "Identity")
    assert SIGNED_ACTIONS == {"case.close", "storage.extend", "storage.hold", "disclose.request",
                              "disclose.select", "disclose.approve", "disclose.override"}
    assert SIGNED_ACTIONS <= set(ACTION_ROLES)


@pytest.mark.parametrize("command", [["case", "close"], ["storage", "extend"], ["storage", "hold"]])
def test_signed_commands_take_key_beside_as(command):
    from flows.cli import app

    result = CliRunner().invoke(app, command + ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--as" in result.output and "--key" in result.output


def test_old_form_users_hold_roles_but_no_key(users, footage_home):
    settings = load_settings()
    assert may(settings, "arne", "case.close")
    assert settings.users["arne"].public_key is None and settings.users["nobody"].roles == []
