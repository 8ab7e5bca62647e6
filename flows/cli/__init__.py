"""The ``footage`` command line (Typer + Rich): the app, and every command group wired in below.

==========================  ===============================================================
module                      commands
==========================  ===============================================================
:mod:`flows.cli.config`     ``config show``
:mod:`flows.cli.ingest`     ``ingest``, ``demo``
:mod:`flows.cli.serve`      ``serve``
:mod:`flows.cli.notify`     ``notify setup|test``
:mod:`flows.cli.ops`        ``audit verify|show``, ``deadline stored``, ``case close``,
                            ``report compliance|deadlines``, ``status``
:mod:`flows.cli.storage`    ``storage init|extend|hold|audit``
:mod:`flows.cli.gaps`       ``gaps check|explain``
:mod:`flows.cli.archive`    ``archive``
:mod:`flows.cli.redact`     ``redact [render]|tracks``
:mod:`flows.cli.disclose`   ``disclose request|select|approve|reject|override|status``
:mod:`flows.cli.user`       ``user keygen|show``
==========================  ===============================================================

What the commands share (exit codes, ``fail``, ``--as``, ``--key``, the consoles, the progress bars) is in
:mod:`flows.cli.common`. The console script ``footage`` is :data:`app`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from flows import prefect_env  # noqa: F401  (sets Prefect defaults before Prefect is imported)
from flows.cli import archive, config, disclose, gaps, ingest, notify, ops, redact, serve, storage
from flows.cli import user

app = typer.Typer(
    name="footage",
    help="Footage: whole-process recording of administrative law enforcement, kept as the rules demand.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main(
    config_file: Optional[Path] = typer.Option(
        None, "--config", "-c", help="footage.toml to read (default: $FOOTAGE_CONFIG, else built-in defaults)."
    ),
) -> None:
    if config_file is not None:
        if not config_file.is_file():
            raise typer.BadParameter(f"{config_file} is not a file", param_hint="--config")
        os.environ["FOOTAGE_CONFIG"] = str(config_file.resolve())


app.add_typer(config.config_app, name="config")
app.command("ingest")(ingest.ingest)
app.command("serve")(serve.serve)
app.add_typer(notify.notify_app, name="notify")
app.command("demo")(ingest.demo)
app.add_typer(ops.audit_app, name="audit")
app.add_typer(ops.deadline_app, name="deadline")
app.add_typer(ops.case_app, name="case")
app.add_typer(ops.report_app, name="report")
app.command("status")(ops.status)
app.add_typer(storage.storage_app, name="storage")
app.add_typer(gaps.gaps_app, name="gaps")
app.command("archive")(archive.archive_command)
app.add_typer(redact.redact_app, name="redact")
app.add_typer(disclose.disclose_app, name="disclose")
app.add_typer(user.user_app, name="user")
