"""``python -m lac_batch`` runs the ``lac-batch`` command."""

from lac_batch.cli.main import entry

entry()
