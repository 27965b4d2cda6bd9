"""Load the Parquet tables of a Spark scan into the SQLite schema of a local scan.

The result is the database ``dedup scan`` writes (store/writer.py builds it, atomically), so ``show``,
``stats``, ``export``, ``clean --db`` and the service read it as they read any other scan.
Needs pyarrow only, not Spark: the tables can be copied off the cluster and loaded anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DatabaseError, EngineError, writing
from .writer import Writer, check_target, table_columns

TABLES = ("documents", "paragraphs", "clusters", "members", "passages", "keys", "checked", "files")
BATCH_ROWS = 50_000


def _dataset(out: Path, table: str):
    import pyarrow.dataset as ds

    folder = out / table
    if not folder.is_dir():
        raise DatabaseError(f"{out}: no {table} table; pass the --out folder of 'dedup scan --engine spark'")
    return ds.dataset(folder, format="parquet")


def _rows(dataset, columns: list[str]):
    for batch in dataset.to_batches(columns=columns, batch_size=BATCH_ROWS):
        yield from zip(*(batch.column(c).to_pylist() for c in columns))


def import_parquet(out: str | Path, db_path: str | Path, *, force: bool = False) -> dict:
    """Write the SQLite database ``db_path`` from the Spark output folder ``out``; return the
    run's counts. Raises DatabaseError for a folder that is not a Spark output, or a target
    it must not replace (as a scan would: see store.check_target)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise EngineError("import-parquet needs pyarrow: pip install 'dedup[spark]'") from None
    out = Path(out)
    if not out.is_dir():
        raise DatabaseError(f"{out}: no such folder; pass the --out folder of 'dedup scan --engine spark'")
    runs = list(_rows(_dataset(out, "runs"), list(table_columns("runs"))))
    if len(runs) != 1:
        raise DatabaseError(f"{out}: the runs table holds {len(runs)} rows, not 1; scan again with --engine spark")
    run = dict(zip(table_columns("runs"), runs[0]))
    datasets = {table: _dataset(out, table) for table in TABLES}
    check_target(db_path, run["root"], force)
    with writing(db_path, "the new database", "point --db elsewhere"):
        writer = Writer(db_path)
        try:
            for table, dataset in datasets.items():
                writer.insert(table, _rows(dataset, list(table_columns(table))))
            writer.commit(run)
        except BaseException:
            writer.abort()
            raise
    return json.loads(run["counts"])
