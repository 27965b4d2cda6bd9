"""The Spark engine's driver path: a corpus that fits the driver is read on the executors in one
Spark job and matched on the driver by the local engine's own stages.

Reading, normalizing and signing are most of a scan's work and split by file; candidates,
verification and clustering on one machine's arrays take seconds for a corpus of
``DRIVER_BYTES``. So the executors run the local engine's ``prepare_job`` on the corpus's jobs
(groups of small files, batches of JSON Lines or table rows; the compiled core where they have
it) and send back the prepared, signed batches; the driver hands them to ``local.scan_full``,
whose database is then written out as the Parquet tables of the storage contract. The result
is the local engine's by construction, and a scan costs one Spark job, not one a count.

Executors get absolute paths (a worker runs in a folder of its own) and the package shipped
by ``spark.session`` (a cluster's Python need not have dedup).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Iterator

from .. import compiled
from ..config import ScanConfig
from ..sources.corpus import CorpusFileError
from ..store.writer import table_columns
from .local import corpus_jobs, file_size, prepare_job, scan_full

DRIVER_BYTES = 128 * 2**20  # input a scan takes the driver path for, by default
GROUP_BYTES = 32 * 2**20  # input read by one Spark job of the driver path
TABLES = ("documents", "paragraphs", "clusters", "members", "passages", "keys", "checked", "files", "runs")
EXPORT_ROWS = 50_000  # rows of a table turned into one Arrow batch at a time


def fits_driver(files: list[Path], limit: int) -> bool:
    """Does the corpus ``files`` (local files) hold at most ``limit`` bytes?"""
    return sum(map(file_size, files)) <= limit


def _prepare_jobs(jobs: Iterator, root: Path, config: ScanConfig) -> Iterator[list]:
    """(on an executor) the prepared batches and errors of each job, a list per job."""
    compiled.prepare()
    for job in jobs:
        yield prepare_job(job, root, config, batches=True)


def executor_items(sc, files: list[Path], root: Path, config: ScanConfig) -> Iterator:
    """The corpus's prepared batches and errors in corpus order, as ``local.prepared_items``
    gives them, made on the executors (started at the first item asked for, so that the read
    stage's time holds them). A job's list comes back pickled whole; the jobs go in
    consecutive groups of about GROUP_BYTES of input, one Spark job a group, so the driver
    holds one group's batches twice at most (its JVM's copy and Python's): one Spark job up to
    GROUP_BYTES, four for a corpus of DRIVER_BYTES."""
    jobs = list(corpus_jobs(files, root, config))
    work = [job for job in jobs if not isinstance(job, CorpusFileError)]
    total = sum(file_size(f) for f in files)
    groups = max(1, min(len(work), -(-total // max(GROUP_BYTES, 1))))
    prepare = functools.partial(_prepare_jobs, root=root, config=config)

    def done() -> Iterator[list]:
        for g in range(groups):
            part = work[g * len(work) // groups : (g + 1) * len(work) // groups]
            yield from sc.parallelize(part, max(1, min(len(part), sc.defaultParallelism))).mapPartitions(prepare).collect()

    results = done()
    for job in jobs:
        yield from [job] if isinstance(job, CorpusFileError) else next(results)


def scan_on_driver(spark, corpus: str, out: str, files: list[Path], config: ScanConfig, run, extra_timings) -> dict:
    """The scan of the local corpus ``files`` (below ``corpus``): read on the executors,
    matched by ``local.scan_full`` into a scratch database, written to ``out`` as Parquet;
    return the run's counts. ``extra_timings()`` gives what the runs row adds to the stage
    timings (the Spark jobs and stages)."""
    root = Path(os.path.abspath(corpus))
    compiled.prepare()
    with tempfile.TemporaryDirectory(prefix="dedup-spark-driver-") as tmp:
        db = Path(tmp) / "scan.db"
        items = executor_items(spark.sparkContext, files, root, config)
        counts = scan_full(files, root, str(root.resolve()), config, db, run, False, items=items)
        with run.timer.stage("export"):
            export_tables(spark, db, out, extra_timings)
    return counts


def export_tables(spark, db: Path, out: str, extra_timings) -> None:
    """Every table of the database ``db`` as Parquet below ``out`` (a folder a table, as the
    distributed path writes them); the runs row, written last, has ``extra_timings()`` and
    this export's time so far among its timings."""
    import pyarrow as pa

    started = time.perf_counter()

    conn = sqlite3.connect(db)
    try:
        for table in TABLES:
            columns = table_columns(table)
            schema = pa.schema([(name, _ARROW_TYPES[kind]()) for name, kind in columns.items()])
            cursor = conn.execute(f"SELECT {', '.join(columns)} FROM {table}")
            batches = []
            while rows := cursor.fetchmany(EXPORT_ROWS):
                if table == "runs":
                    extra = {**extra_timings(), "export": round(time.perf_counter() - started, 4)}
                    rows = [_with_timings(row, list(columns), extra) for row in rows]
                batches.append(pa.RecordBatch.from_arrays([pa.array(col, type=t) for col, t in zip(zip(*rows), schema.types)], schema=schema))
            _write(spark, pa.Table.from_batches(batches, schema=schema), f"{out.rstrip('/')}/{table}")
    finally:
        conn.close()


_ARROW_TYPES = {int: lambda: __import__("pyarrow").int64(), str: lambda: __import__("pyarrow").string(),
                float: lambda: __import__("pyarrow").float64(), bytes: lambda: __import__("pyarrow").binary()}


def _with_timings(row: tuple, columns: list[str], extra: dict) -> tuple:
    """A runs row whose timings JSON holds ``extra`` too."""
    at = columns.index("timings")
    timings = {**json.loads(row[at]), **extra}
    return row[:at] + (json.dumps(timings, ensure_ascii=False, sort_keys=True),) + row[at + 1 :]


def _write(spark, table, target: str) -> None:
    """One table to the folder ``target``: by pyarrow on a local path, by Spark on a URI."""
    if "://" in target and not target.startswith("file://"):
        spark.createDataFrame(table).write.mode("overwrite").parquet(target)
        return
    import pyarrow.parquet as pq

    folder = Path(target.removeprefix("file://"))
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    pq.write_table(table, folder / f"part-00000-{uuid.uuid4().hex[:8]}.parquet")
