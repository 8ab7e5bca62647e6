"""``python -m flows`` runs the ``footage`` command line."""

from flows.cli import app

app(prog_name="footage")
