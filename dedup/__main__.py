"""``python -m dedup`` runs the ``dedup`` command; ``run`` is also its console entry point."""

import sys


def run() -> None:
    """Load the command and run it. Loading numpy and the rest takes a good part of a second;
    an interrupt then ends as quietly as one during the work, never with a traceback."""
    try:
        from .cli import main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted; nothing was written.\n")
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
