"""``python -m flows`` runs the ``footage`` command line."""

from .cli import app

app(prog_name="footage")
