"""``python -m dedup`` runs the ``dedup`` command."""

from .cli import main

main()
