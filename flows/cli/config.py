"""``footage config show``: the effective configuration (file, environment, defaults), secrets masked."""

from __future__ import annotations

import os

import typer
from rich.pretty import Pretty

from flows.cli.common import load_settings, out, print_json

config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)


@config_app.command("show")
def config_show(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of TOML-like text.")) -> None:
    """Print the effective configuration, secrets masked."""
    from records.settings import masked  # see flows.cli.common: records.settings is imported late

    settings = load_settings()
    data = masked(settings.model_dump(mode="json"))
    data["_source"] = {"config_file": os.environ.get("FOOTAGE_CONFIG"), "env_prefix": "FOOTAGE_"}
    if as_json:
        print_json(data, indent=2)
        return
    out.print(Pretty(data, expand_all=True))
