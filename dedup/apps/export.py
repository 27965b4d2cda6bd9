"""Export a scan's tables for other pipelines: JSON Lines, CSV or Parquet, stable column names.

Five views, each one SQL query over the storage contract, streamed row by row, so exporting
a database of millions of paragraphs holds one batch in memory:

``clusters``    one row a cluster: its canonical paragraph (document, lines, text), size,
                documents, the boilerplate flag and why the canonical was chosen
``members``     one row a paragraph in a cluster, the canonical included
``paragraphs``  one row a paragraph of the corpus, with its cluster and relation (NULL: unique)
``pairs``       one row a copy: the copy and its canonical side by side, the pair a cleanup
                step acts on (every member but the canonical)
``passages``    one row a passage (a run of paragraphs copied together): both documents,
                their line ranges, the size and similarity of the run, and both sides' text

The column names are part of the interface (``COLUMNS``): new columns may be added at the end,
none is renamed or removed. A file is written to a temporary name and moved into place when
complete, so an interrupted export never leaves half a file under the name asked for.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..atomic import StdoutData, stdout_name, write_atomically
from ..errors import DedupError, writing

FORMATS = ("jsonl", "csv", "parquet")
BATCH_ROWS = 50_000

_DOC = "d.path AS document, d.source AS source, d.record AS record"
QUERIES = {
    "clusters": f"""
        SELECT c.id AS cluster_id, c.canonical_id AS canonical_paragraph_id, {_DOC},
               p.line_start AS line_start, p.line_end AS line_end, c.size AS size,
               c.n_documents AS n_documents, c.boilerplate AS boilerplate, c.reason AS reason,
               p.text AS canonical_text
        FROM clusters c JOIN paragraphs p ON p.id = c.canonical_id JOIN documents d ON d.id = p.doc_id
        ORDER BY c.id""",
    "members": f"""
        SELECT m.paragraph_id AS paragraph_id, m.cluster_id AS cluster_id, {_DOC},
               p.line_start AS line_start, p.line_end AS line_end, m.relation AS relation,
               m.similarity AS similarity, m.containment AS containment, p.text AS text
        FROM members m JOIN paragraphs p ON p.id = m.paragraph_id JOIN documents d ON d.id = p.doc_id
        ORDER BY m.cluster_id, m.paragraph_id""",
    "paragraphs": f"""
        SELECT p.id AS paragraph_id, {_DOC}, p.idx AS idx, p.line_start AS line_start,
               p.line_end AS line_end, p.char_start AS char_start, p.char_end AS char_end,
               p.cluster_id AS cluster_id, m.relation AS relation, p.text AS text
        FROM paragraphs p JOIN documents d ON d.id = p.doc_id LEFT JOIN members m ON m.paragraph_id = p.id
        ORDER BY p.id""",
    "pairs": f"""
        SELECT m.paragraph_id AS paragraph_id, {_DOC}, p.line_start AS line_start,
               p.line_end AS line_end, c.canonical_id AS canonical_paragraph_id,
               cd.path AS canonical_document, cp.line_start AS canonical_line_start,
               cp.line_end AS canonical_line_end, m.cluster_id AS cluster_id,
               m.relation AS relation, m.similarity AS similarity, m.containment AS containment,
               c.boilerplate AS boilerplate
        FROM members m JOIN clusters c ON c.id = m.cluster_id
        JOIN paragraphs p ON p.id = m.paragraph_id JOIN documents d ON d.id = p.doc_id
        JOIN paragraphs cp ON cp.id = c.canonical_id JOIN documents cd ON cd.id = cp.doc_id
        WHERE m.relation != 'canonical'
        ORDER BY m.paragraph_id""",
    "passages": """
        SELECT id AS passage_id, source_path AS source_document, source_line_start, source_line_end,
               copy_path AS copy_document, copy_line_start, copy_line_end, paragraphs, characters, similarity,
               source_text, copy_text
        FROM passages_text ORDER BY id""",
}
TABLES = tuple(QUERIES)


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """The column names of an export view."""
    cursor = conn.execute(f"SELECT * FROM ({QUERIES[table]}) LIMIT 0")
    return [d[0] for d in cursor.description]


COLUMNS = {
    "clusters": ["cluster_id", "canonical_paragraph_id", "document", "source", "record", "line_start", "line_end",
                 "size", "n_documents", "boilerplate", "reason", "canonical_text"],
    "members": ["paragraph_id", "cluster_id", "document", "source", "record", "line_start", "line_end", "relation",
                "similarity", "containment", "text"],
    "paragraphs": ["paragraph_id", "document", "source", "record", "idx", "line_start", "line_end", "char_start",
                   "char_end", "cluster_id", "relation", "text"],
    "pairs": ["paragraph_id", "document", "source", "record", "line_start", "line_end", "canonical_paragraph_id",
              "canonical_document", "canonical_line_start", "canonical_line_end", "cluster_id", "relation",
              "similarity", "containment", "boilerplate"],
    "passages": ["passage_id", "source_document", "source_line_start", "source_line_end", "copy_document",
                 "copy_line_start", "copy_line_end", "paragraphs", "characters", "similarity", "source_text", "copy_text"],
}
"""The stable columns of every view, in order (a test checks the queries give exactly these)."""


def batches(conn: sqlite3.Connection, table: str) -> Iterator[list[tuple]]:
    """The rows of an export view, ``BATCH_ROWS`` at a time."""
    cursor = conn.execute(QUERIES[table])
    while rows := cursor.fetchmany(BATCH_ROWS):
        yield rows


def write_jsonl(out: IO[str], names: list[str], rows: Iterator[list[tuple]]) -> int:
    n = 0
    for batch in rows:
        out.write("".join(json.dumps(dict(zip(names, row)), ensure_ascii=False) + "\n" for row in batch))
        n += len(batch)
    return n


def write_csv(out: IO[str], names: list[str], rows: Iterator[list[tuple]]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    n = 0
    for batch in rows:
        writer.writerows(batch)
        n += len(batch)
    return n


def _arrow_schema(names: list[str]):
    """Column types from the storage contract: text columns as strings, the rest as numbers."""
    import pyarrow as pa

    floats = {"similarity", "containment"}
    texts = {"document", "source", "relation", "reason", "canonical_text", "text", "canonical_document",
             "source_document", "copy_document", "source_text", "copy_text"}
    fields = []
    for name in names:
        kind = pa.string() if name in texts else pa.float64() if name in floats else pa.int64()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def write_parquet(path: Path, conn: sqlite3.Connection, table: str, names: list[str]) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DedupError("parquet export needs pyarrow; install it with: pip install 'dedup[parquet]'") from None
    schema = _arrow_schema(names)
    n = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in batches(conn, table):
            data = list(zip(*batch))
            writer.write_table(pa.Table.from_arrays([pa.array(col, type=f.type) for col, f in zip(data, schema)], schema=schema))
            n += len(batch)
    return n


def export(db: str | os.PathLike, table: str, fmt: str, out: str | os.PathLike | None = None) -> int:
    """Write one export view of the database ``db``; return the number of rows.

    ``out`` None or ``-`` writes to stdout (not for parquet, which is a binary file with its
    index at the end); a file is written beside its target and moved over it when complete.
    """
    from ..store.writer import open_existing

    if table not in QUERIES:
        raise DedupError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")
    if fmt not in FORMATS:
        raise DedupError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    to_stdout = out is None or str(out) == "-"
    if to_stdout and fmt == "parquet":
        raise DedupError("parquet is written to a file; pass --out FILE.parquet")
    conn = open_existing(db).conn
    try:
        names = COLUMNS[table]
        if to_stdout:
            writer = write_jsonl if fmt == "jsonl" else write_csv
            with writing(stdout_name(), "the export", "send stdout elsewhere, or pass --out FILE"):
                out = StdoutData()
                n = writer(out, names, batches(conn, table))
                out.flush()
            return n
        return write_atomically(Path(out), lambda tmp: _write_file(tmp, conn, table, fmt, names), "the export", "point --out elsewhere")
    finally:
        conn.close()


def _write_file(path: Path, conn: sqlite3.Connection, table: str, fmt: str, names: list[str]) -> int:
    if fmt == "parquet":
        return write_parquet(path, conn, table, names)
    with open(path, "w", encoding="utf-8", newline="") as f:
        return (write_jsonl if fmt == "jsonl" else write_csv)(f, names, batches(conn, table))
