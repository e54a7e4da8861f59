"""``python -m sbx``: the same as the ``sbx`` command."""

from sbx.cli.main import run

run()
