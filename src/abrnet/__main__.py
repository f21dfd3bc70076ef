"""`python -m abrnet` = the `abrnet` command (useful where the package is on PYTHONPATH but not installed)."""

from abrnet.cli.main import app

app()
