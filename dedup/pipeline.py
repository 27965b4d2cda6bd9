"""A scan's entry: list the corpus, then update the database it holds (update.py) when that
gives the same result as a full scan, or run the full scan (local.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from . import compiled
from .config import ScanConfig
from .sources.corpus import Skipped, list_files
from .engines.local import ScanResult, scan_full
from .sources.records import STDIN
from .store.writer import check_target
from .run import Run
from .engines.update import can_update, plan_folder, update
from .workers import bulk_collection, return_freed_memory


def scan(
    root: str | Path,
    config: ScanConfig,
    db_path: str | Path,
    *,
    force: bool = False,
    skip_bad: bool = False,
    show_progress: bool = False,
    on_skip: Callable[[Skipped], None] | None = None,
    full: bool = False,
) -> ScanResult:
    """Scan every input file below ``root`` (or JSONL on stdin, for ``-``) and write the
    cluster tables to ``db_path``.

    When ``db_path`` already holds a scan of ``root`` with the same matching options, only what
    changed is read, signed and verified (see update.py), unless ``full``; the result is the
    same either way, but cluster ids of the earlier scan are kept and changes recorded.

    Raises CorpusError for an unreadable corpus and DatabaseError for a target it must not
    replace; on any failure the previous database at ``db_path`` is left as it was.
    """
    run = Run(skip_bad=skip_bad, on_skip=on_skip)
    root = Path(root)
    compiled.prepare()  # the core's tables, built once here and inherited by every worker
    return_freed_memory()
    files = [root] if str(root) == STDIN else list_files(root, on_error=run.on_listing_error, selection=config.selection)
    resolved_root = STDIN if str(root) == STDIN else str(root.resolve())
    check_target(db_path, resolved_root, force)
    with bulk_collection():
        if not full and str(root) != STDIN and can_update(Path(db_path), resolved_root, config):
            counts, _ = update(root, config, Path(db_path), lambda conn: plan_folder(conn, files, root), run, show_progress=show_progress)
        else:
            counts = scan_full(files, root, resolved_root, config, db_path, run, show_progress)
    return ScanResult(Path(db_path), counts, run.timer.timings, run.skipped)
