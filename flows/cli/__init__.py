"""The ``footage`` command line (Typer + Rich).

Each capability keeps its commands in its own module exposing ``register(app)``; the modules are
listed in ``COMMAND_MODULES`` and wired in at import time.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from flows import prefect_env  # noqa: F401  (sets Prefect defaults before Prefect is imported)

app = typer.Typer(
    name="footage",
    help="Footage: whole-process recording of administrative law enforcement, kept as the rules demand.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)

config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@app.callback()
def main(
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", help="footage.toml to read (default: $FOOTAGE_CONFIG, else built-in defaults)."
    ),
) -> None:
    if config is not None:
        if not config.is_file():
            raise typer.BadParameter(f"{config} is not a file", param_hint="--config")
        os.environ["FOOTAGE_CONFIG"] = str(config.resolve())


@config_app.command("show")
def config_show(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of TOML-like text.")) -> None:
    """Print the effective configuration, secrets masked."""
    from records.settings import load_settings, masked

    settings = load_settings()
    data = masked(settings.model_dump(mode="json"))
    data["_source"] = {"config_file": os.environ.get("FOOTAGE_CONFIG"), "env_prefix": "FOOTAGE_"}
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    from rich.pretty import Pretty

    Console().print(Pretty(data, expand_all=True))


def fail(message: str, code: int = 2) -> None:
    """Print a clear error (no traceback) and exit."""
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


COMMAND_MODULES: tuple[str, ...] = (
    "flows.cli.ingest",
    "flows.cli.ops",
    "flows.cli.storage",
    "flows.cli.gaps",
    "flows.cli.archive",
    "flows.cli.redact",
)


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register()
