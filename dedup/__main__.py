"""``python -m dedup`` runs the ``dedup`` command; ``run`` is also its console entry point."""

import os
import sys


def _early_tmp_dir(argv: list[str]) -> None:
    """Put ``--tmp-dir DIR`` of the command line into SQLITE_TMPDIR before anything loads the
    sqlite3 module: SQLite reads the variable then, once, and not when the option is parsed.
    The option itself (cli.py) checks the folder and does the rest."""
    for i, arg in enumerate(argv):
        if arg == "--":
            return
        if arg == "--tmp-dir" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--tmp-dir="):
            value = arg.split("=", 1)[1]
        else:
            continue
        os.environ["SQLITE_TMPDIR"] = os.path.abspath(value)


def run() -> None:
    """Load the command and run it. Loading numpy and the rest takes a good part of a second;
    an interrupt then ends as quietly as one during the work, never with a traceback."""
    _early_tmp_dir(sys.argv[1:])
    try:
        from .apps.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted; nothing was written.\n")
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
