"""Tabular input: Parquet shards and CSV/TSV files, one row a document, as JSONL records are.

A row is a record: its text column (``--text-field``, default ``text``) becomes the document's
text, its id column (``--id-field``, default ``id``) the document's path in the database, or
``FILE:N`` when it has none, and every other column is kept in ``documents.meta`` (JSON).
``documents.record`` (the ``N`` of ``FILE:N``) is

* for Parquet, the row's 1-based position in the file, row groups one after another (the
  Spark engine numbers a dataset's rows so too): row N is ``pq.read_table(f).slice(N - 1, 1)``;
* for CSV and TSV, the 1-based line of the file the row starts on (the header is line 1), as a
  JSONL record's is its line: with no line break inside a cell it is also a spreadsheet's row.

A CSV row's ``documents.size`` and ``sha1`` are those of its bytes, as a JSONL line's; a Parquet
row has no bytes of its own, so they are those of its JSON form (every non-null column as
``meta`` holds it, the text included, keys sorted). ``dedup clean`` checks a CSV row's SHA-1
before rewriting it; a Parquet file is checked whole (``files.sha1``), as every input file is.

Reading streams, as for JSONL (records.line_batches): the main process cuts a file into
batches of about ``BATCH_BYTES`` and the worker processes turn batches into documents, so one
big shard keeps every core busy and memory holds a few batches, never a file.

* Parquet (pyarrow, the ``parquet`` extra): row group by row group, in record batches of as
  many rows as fit ``BATCH_BYTES`` by the row group's own figures, read without pre-buffering
  so a large row group is not held whole; a batch travels as Arrow IPC bytes.
* CSV: the standard ``csv`` module (no dependency, and it is what finds a row's bytes: a row
  is the lines the reader took for it), strict: a quote closed in the middle of a cell is an
  error, not two cells run together. The main process only finds where rows end; workers
  parse them again. The first row is the header. ``.tsv`` is tab-separated; for ``.csv`` the
  delimiter is whichever of ``, ; TAB |`` the header line holds most of (outside quotes),
  ``,`` if none. UTF-8 only (a byte-order mark is allowed), as for JSONL.

Values of other columns, made JSON (``plain``): null -> left out of meta (a null is a missing
field, as the Spark engine reads a dataset; a null text is the error of a record without its
text field); timestamps, dates and times -> ISO 8601 strings (a zone kept when the column has
one; a top-level nanosecond timestamp keeps its nine digits, nested ones are cut to
microseconds); durations -> seconds (float); decimals -> strings (exact); binary -> base64;
NaN and infinities -> null (so left out, in a top-level column); lists, structs and maps -> arrays and objects. CSV cells stay the
strings they are (an empty cell is "", not null). A binary text column is read as UTF-8.

Bad input names the file and the fix: a file pyarrow cannot open, a missing or non-text text
column, a duplicate column name, a header that cannot be read stop the file
(``UnreadableFileError``); a bad row (broken quoting, a wrong number of cells, bytes that are
not UTF-8, a null text) is a ``RecordError`` naming ``FILE:N``. ``--skip-bad`` skips either.

``rewrite_parquet`` and ``rewrite_csv`` write a file back with only text cells changed, for
``dedup clean``.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import io
import itertools
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .corpus import BINARY_SNIFF_BYTES, BinaryFileError, CorpusFileError, Document, UnreadableFileError, cannot_read, open_regular
from .records import BATCH_BYTES, RecordError, RecordFields, record_document

PARQUET_SUFFIXES = (".parquet",)
CSV_SUFFIXES = (".csv", ".tsv")
TABLE_SUFFIXES = PARQUET_SUFFIXES + CSV_SUFFIXES
MAX_ROW_BYTES = 64 << 20  # a CSV row this long is taken for a quote left open, not waited out
CSV_DELIMITERS = ",;\t|"  # what a .csv header is looked at for, in order of preference on a tie
PIP_PARQUET = "pip install 'dedup[parquet]'"

_SKIP_FILE = "or pass --skip-bad to skip such files"
_SKIP_ROW = "or pass --skip-bad to skip such rows"
_QUOTED = re.compile(r'"[^"]*"')


def is_parquet_name(name: str) -> bool:
    return name.lower().endswith(PARQUET_SUFFIXES)


def is_csv_name(name: str) -> bool:
    return name.lower().endswith(CSV_SUFFIXES)


def is_table_name(name: str) -> bool:
    """A Parquet, CSV or TSV file: read row by row (``table_batches``)."""
    return name.lower().endswith(TABLE_SUFFIXES)


# ---------------------------------------------------------------------------------------------
# Batches: what the main process cuts and a worker turns into documents


@dataclass(frozen=True)
class ParquetBatch:
    """Consecutive rows of one Parquet file, the first of them row ``first_row`` (1-based)."""

    source: str
    first_row: int
    data: bytes  # an Arrow IPC stream of one record batch: the rows, every column

    def documents(self, fields: RecordFields) -> list[Document | RecordError]:
        """Every row's document, or the error it gives, in order."""
        import pyarrow as pa

        batch = pa.ipc.open_stream(self.data).read_next_batch()
        names = batch.schema.names
        text_at = names.index(fields.text)
        columns = [batch.column(i).to_pylist() if i == text_at else _values(batch.column(i)) for i in range(len(names))]
        out: list[Document | RecordError] = []
        for number, values in enumerate(zip(*columns), start=self.first_row):
            record = {name: value for name, value in zip(names, values) if value is not None}
            try:
                out.append(_row_document(record, self.source, number, fields))
            except RecordError as error:
                out.append(error)
        return out


@dataclass(frozen=True)
class CsvBatch:
    """Consecutive rows of one CSV or TSV file, as the bytes read, and where each starts."""

    source: str
    header: tuple[str, ...]
    delimiter: str
    lines: tuple[int, ...]  # 1-based line each row starts on
    rows: tuple[bytes, ...]  # each row's bytes, its line ending included

    def documents(self, fields: RecordFields) -> list[Document | RecordError]:
        """Every row's document, or the error it gives, in order."""
        out: list[Document | RecordError] = []
        for line, raw in zip(self.lines, self.rows):
            try:
                cells = _parse_row(raw, self.delimiter, self.source, line)
                if len(cells) != len(self.header):
                    raise RecordError(
                        f"{self.source}:{line}",
                        f"{len(cells)} cells where the header has {len(self.header)}; fix the row (a delimiter or quote too many or too few?), {_SKIP_ROW}",
                    )
                out.append(record_document(dict(zip(self.header, cells)), self.source, line, fields, raw=raw))
            except RecordError as error:
                out.append(error)
        return out


TableBatch = ParquetBatch | CsvBatch


def table_batches(path: Path | str, source: str, fields: RecordFields, batch_bytes: int | None = None) -> Iterator[TableBatch | RecordError]:
    """The batches of a Parquet, CSV or TSV file, with the errors of bad rows in their place;
    raises ``CorpusFileError`` (naming ``source``) when the file cannot be read on."""
    if is_parquet_name(str(path)):
        return parquet_batches(path, source, fields, batch_bytes)
    return csv_batches(path, source, fields, batch_bytes)


def read_table(path: Path | str, source: str, fields: RecordFields = RecordFields()) -> Iterator[Document | RecordError]:
    """Every row of a table file as a document or its error, in order (one process; the scan
    hands the batches to its workers)."""
    for batch in table_batches(path, source, fields):
        if isinstance(batch, CorpusFileError):
            yield batch
        else:
            yield from batch.documents(fields)


# ---------------------------------------------------------------------------------------------
# Parquet


def _pyarrow_parquet(source: str):
    """``pyarrow.parquet``, or the error that names the extra to install."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UnreadableFileError(source, f"reading Parquet needs pyarrow: {PIP_PARQUET}, {_SKIP_FILE}") from None
    return pq


def preload_pyarrow() -> None:
    """Import pyarrow now, if it is there (a missing one is reported per file, by ``open_parquet``)."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        pass


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def open_parquet(path: Path | str, source: str):
    """A ``pyarrow.parquet.ParquetFile`` of ``path`` (not pre-buffered: a row group is read a
    batch at a time); raises ``UnreadableFileError`` for a file that is not one."""
    pq = _pyarrow_parquet(source)
    try:
        file = open_regular(path)  # a FIFO named like a shard would block
    except OSError as error:
        raise UnreadableFileError(source, cannot_read(error, "file")) from None
    try:
        return pq.ParquetFile(file, pre_buffer=False, buffer_size=1 << 20)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, even ValueError for a bad footer
        file.close()
        raise UnreadableFileError(source, f"not a readable Parquet file ({_first_line(error)}); repair or replace it, {_SKIP_FILE}") from None


def _check_columns(names: list[str], source: str, fields: RecordFields, what: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise UnreadableFileError(source, f"column {name!r} appears twice in its {what}; rename one, {_SKIP_FILE}")
        seen.add(name)
    if fields.text not in seen:
        listed = ", ".join(map(repr, names[:20])) + (", ..." if len(names) > 20 else "") if names else "none"
        raise UnreadableFileError(source, f"no {fields.text!r} column (its columns: {listed}); name the text column with --text-field, {_SKIP_FILE}")


def _is_text_type(pa, arrow_type) -> bool:
    t = pa.types
    if t.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return any(check(arrow_type) for check in (t.is_string, t.is_large_string, t.is_string_view, t.is_binary, t.is_large_binary, t.is_binary_view))


def parquet_batches(path: Path | str, source: str, fields: RecordFields, batch_bytes: int | None = None) -> Iterator[ParquetBatch]:
    """Cut a Parquet file into batches of rows of about ``batch_bytes`` (uncompressed, by each
    row group's figures; default ``BATCH_BYTES``). Raises ``UnreadableFileError`` naming
    ``source`` for a file that is not Parquet, that has no text column, or that breaks part
    way (after yielding the rows before the break)."""
    batch_bytes = batch_bytes or BATCH_BYTES
    parquet = open_parquet(path, source)  # first: it names the extra to install
    import pyarrow as pa

    number = 0
    try:
        schema = parquet.schema_arrow
        _check_columns(schema.names, source, fields, "schema")
        text_type = schema.field(fields.text).type
        if not _is_text_type(pa, text_type):
            raise UnreadableFileError(source, f"column {fields.text!r} holds {text_type}, not text; name the text column with --text-field, {_SKIP_FILE}")
        metadata = parquet.metadata
        for group in range(metadata.num_row_groups):
            stats = metadata.row_group(group)
            if not stats.num_rows:
                continue
            rows = max(1, batch_bytes * stats.num_rows // max(stats.total_byte_size, 1))
            for batch in parquet.iter_batches(batch_size=rows, row_groups=[group], use_threads=False):
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, batch.schema) as writer:
                    writer.write_batch(batch)
                yield ParquetBatch(source, number + 1, sink.getvalue().to_pybytes())
                number += batch.num_rows
    except CorpusFileError:
        raise
    except Exception as error:  # a corrupt page, a truncated file: pyarrow's own errors
        keep = f"to keep rows 1-{number} and skip the rest" if number else "to skip it"
        raise UnreadableFileError(source, f"cannot be read after row {number} ({_first_line(error)}); repair or replace it, or pass --skip-bad {keep}") from None
    finally:
        parquet.close(force=True)  # it closes the file it was given only so


def _row_document(record: dict, source: str, number: int, fields: RecordFields) -> Document:
    """The document of one Parquet row (nulls already left out): its text (a binary text is
    read as UTF-8) and the JSON of the whole row as the bytes that identify it."""
    text = record.get(fields.text)
    where = f"{source}:{number}"
    if text is None:
        raise RecordError(where, f"{fields.text!r} is null; fill it, name another text column with --text-field, {_SKIP_ROW}")
    if isinstance(text, bytes):
        try:
            record[fields.text] = text.decode("utf-8")
        except UnicodeDecodeError:
            raise RecordError(where, f"{fields.text!r} is not UTF-8; convert the column to UTF-8 text, {_SKIP_ROW}") from None
    try:
        raw = json.dumps(record, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate cannot come out of Arrow's UTF-8, but be sure
        raise RecordError(where, f"holds text that is not valid Unicode; fix it, {_SKIP_ROW}") from None
    return record_document(record, source, number, fields, raw=raw)


def plain(value):
    """A value ``to_pylist`` gives, as JSON can hold it (see the module docstring).

        >>> plain(dt.datetime(2021, 3, 4, 8, 0)), plain(decimal.Decimal("12.50")), plain(b"\\xff")
        ('2021-03-04T08:00:00', '12.50', '/w==')
        >>> plain({"at": dt.date(2021, 3, 4), "n": [float("nan"), 1.5], "d": dt.timedelta(milliseconds=1500)})
        {'at': '2021-03-04', 'n': [None, 1.5], 'd': 1.5}
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return str(value)


def _micro(pa, arrow_type):
    """``arrow_type`` with every nanosecond unit made microseconds (Python has no nanoseconds)."""
    t = pa.types
    if t.is_timestamp(arrow_type) and arrow_type.unit == "ns":
        return pa.timestamp("us", arrow_type.tz)
    if t.is_time64(arrow_type) and arrow_type.unit == "ns":
        return pa.time64("us")
    if t.is_duration(arrow_type) and arrow_type.unit == "ns":
        return pa.duration("us")
    if t.is_list(arrow_type) or t.is_large_list(arrow_type) or t.is_fixed_size_list(arrow_type):
        value = _micro(pa, arrow_type.value_type)
        if value == arrow_type.value_type:
            return arrow_type
        field = arrow_type.value_field.with_type(value)
        if t.is_fixed_size_list(arrow_type):
            return pa.list_(field, arrow_type.list_size)
        return pa.large_list(field) if t.is_large_list(arrow_type) else pa.list_(field)
    if t.is_struct(arrow_type):
        fields = [arrow_type.field(i) for i in range(arrow_type.num_fields)]
        micro = [f.with_type(_micro(pa, f.type)) for f in fields]
        return arrow_type if micro == fields else pa.struct(micro)
    if t.is_map(arrow_type):
        key, item = _micro(pa, arrow_type.key_type), _micro(pa, arrow_type.item_type)
        return arrow_type if (key, item) == (arrow_type.key_type, arrow_type.item_type) else pa.map_(key, item)
    return arrow_type


def _nanosecond_iso(pa, column) -> list:
    """ISO 8601 strings of a nanosecond timestamp column, all nine digits kept."""
    micro = column.cast(pa.timestamp("us", column.type.tz), safe=False).to_pylist()
    nanos = column.cast(pa.int64()).to_pylist()
    out = []
    for moment, ns in zip(micro, nanos):
        if moment is None:
            out.append(None)
            continue
        text = moment.isoformat(timespec="microseconds")
        zone = len(text) - 26 if len(text) > 26 else 0  # "+08:00" after "YYYY-MM-DDTHH:MM:SS.ffffff"
        head, tail = (text[:-zone], text[-zone:]) if zone else (text, "")
        out.append(f"{head}{ns % 1000:03d}{tail}")
    return out


def _values(column) -> list:
    """``plain_column``, or each value's text for a type it cannot convert (an extension type
    Python has no value for): a row is never lost to a column that is only metadata."""
    try:
        return plain_column(column)
    except Exception:
        return [str(value) if value.is_valid else None for value in column]


def plain_column(column) -> list:
    """The values of an Arrow column as JSON can hold them (``plain``), fast for plain types."""
    import pyarrow as pa

    t, arrow_type = pa.types, column.type
    if t.is_dictionary(arrow_type):
        column, arrow_type = column.cast(arrow_type.value_type), arrow_type.value_type
    if t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_integer(arrow_type) or t.is_boolean(arrow_type) or t.is_null(arrow_type):
        return column.to_pylist()
    if t.is_timestamp(arrow_type) and arrow_type.unit == "ns":
        return _nanosecond_iso(pa, column)
    micro = _micro(pa, arrow_type)
    if micro != arrow_type:
        column = column.cast(micro, safe=False)
    return [plain(v) for v in column.to_pylist(maps_as_pydicts="lossy")]


# ---------------------------------------------------------------------------------------------
# CSV and TSV


class _RowTooLong(Exception):
    """A CSV row ran past ``MAX_ROW_BYTES``."""


def _allow_long_cells() -> None:
    # The csv module refuses cells over 128 KiB by default; a document's text is often longer.
    if csv.field_size_limit() < MAX_ROW_BYTES:
        csv.field_size_limit(MAX_ROW_BYTES)


def csv_delimiter(name: str, header_line: str) -> str:
    """The delimiter of a CSV or TSV file: a tab for ``.tsv``; for ``.csv``, whichever of
    ``CSV_DELIMITERS`` its header line holds most of outside quotes (``,`` if none).

        >>> csv_delimiter("a.csv", 'id;"text, with a comma";date'), csv_delimiter("a.tsv", "a,b"), csv_delimiter("a.csv", "text")
        (';', '\\t', ',')
    """
    if name.lower().endswith(".tsv"):
        return "\t"
    outside = _QUOTED.sub("", header_line)
    counts = [outside.count(d) for d in CSV_DELIMITERS]
    best = max(range(len(counts)), key=lambda i: (counts[i], -i))
    return CSV_DELIMITERS[best] if counts[best] else ","


def _parse_row(raw: bytes, delimiter: str, source: str, line: int) -> list[str]:
    """The cells of one row's bytes; raises ``RecordError``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError(
            f"{source}:{line}", f"not UTF-8; convert the file to UTF-8 (iconv -f WINDOWS-1252 -t UTF-8 does for most spreadsheet exports), {_SKIP_ROW}"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    _allow_long_cells()
    try:
        return next(csv.reader([text], delimiter=delimiter, strict=True))
    except (csv.Error, StopIteration) as error:
        raise RecordError(f"{source}:{line}", f"broken quoting ({error}); fix the row, {_SKIP_ROW}") from None


@dataclass(frozen=True)
class CsvRow:
    """One row as ``csv_rows`` finds it: where it starts, its bytes, its cells or why none."""

    line: int
    raw: bytes
    cells: list[str] | RecordError


def csv_rows(stream: Iterator[bytes], source: str, delimiter: str) -> Iterator[CsvRow]:
    """Every row of a CSV stream of lines (bytes) in order, a blank line a row of no cells. A row is
    the lines the ``csv`` reader took for it (it reads no further than a row's end), so its
    bytes are exactly the file's. Raises ``UnreadableFileError`` for a row past
    ``MAX_ROW_BYTES``, which is taken for a quote left open."""
    _allow_long_cells()
    raw: list[bytes] = []
    size = 0

    def lines() -> Iterator[str]:
        nonlocal size
        first = True
        for line in _universal(stream):
            raw.append(line)
            size += len(line)
            if size > MAX_ROW_BYTES:
                raise _RowTooLong
            text = line.decode("utf-8", "surrogateescape")  # the workers decode strictly
            yield text[1:] if first and text.startswith("\ufeff") else text
            first = False

    reader = csv.reader(lines(), delimiter=delimiter, strict=True)
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except _RowTooLong:
            raise UnreadableFileError(
                source, f"the row from line {line} runs past {MAX_ROW_BYTES >> 20} MB (a quote left open?); fix it, or pass --skip-bad to keep the rows before it"
            ) from None
        except csv.Error as error:
            why = "a quote opened in this row never closes (the file ends inside it)" if "end of data" in str(error) else f"broken quoting ({error})"
            cells = RecordError(f"{source}:{line}", f"{why}; fix the row, {_SKIP_ROW}")
        yield CsvRow(line, b"".join(raw), cells)  # cells [] : a blank line
        line += len(raw)
        raw.clear()
        size = 0


_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")


def _universal(stream: Iterator[bytes]) -> Iterator[bytes]:
    """The lines of a stream of bytes, each with its ending, a lone "\\r" ending one too (as
    ``csv`` expects of a file opened with ``newline=""``, and as corpus.decode_bytes counts)."""
    for line in stream:
        if b"\r" in line[:-2] or line.endswith(b"\r"):
            yield from filter(None, _LONE_CR.split(line))
        else:
            yield line


def open_csv(path: Path | str, source: str) -> tuple[BinaryIO, Iterator[bytes], str]:
    """(the open file, its lines, its delimiter) of a CSV or TSV file; raises
    ``UnreadableFileError``, or ``BinaryFileError`` for NUL bytes in its first 8 KiB."""
    try:
        stream = open_regular(path)
        head = stream.peek(BINARY_SNIFF_BYTES)[:BINARY_SNIFF_BYTES]
        if b"\0" in head:
            stream.close()
            raise BinaryFileError(source, "binary file (NUL bytes), skipped")
        first = stream.readline(MAX_ROW_BYTES + 1)
    except OSError as error:
        raise UnreadableFileError(source, cannot_read(error, "file")) from None
    text = first.decode("utf-8", "surrogateescape")
    delimiter = csv_delimiter(Path(path).name, text[1:] if text.startswith("\ufeff") else text)
    return stream, itertools.chain([first] if first else [], stream), delimiter


def _header(row: CsvRow, source: str, fields: RecordFields) -> tuple[str, ...]:
    if isinstance(row.cells, RecordError):
        raise UnreadableFileError(source, f"its header cannot be read: {row.cells.reason}")
    try:
        row.raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableFileError(source, f"its header is not UTF-8; convert the file to UTF-8, {_SKIP_FILE}") from None
    _check_columns(row.cells, source, fields, "header")
    return tuple(row.cells)


def csv_batches(path: Path | str, source: str, fields: RecordFields, batch_bytes: int | None = None) -> Iterator[CsvBatch | RecordError]:
    """Cut a CSV or TSV file into batches of rows of about ``batch_bytes`` (default
    ``BATCH_BYTES``), a row whose quoting is broken given as its ``RecordError`` in its place.
    The first row is the header. Raises ``UnreadableFileError`` naming ``source`` for a file
    with no text column or a header that cannot be read; an empty file has no rows."""
    batch_bytes = batch_bytes or BATCH_BYTES
    stream, lines, delimiter = open_csv(path, source)
    with stream:
        rows = csv_rows(lines, source, delimiter)
        head = next((row for row in rows if row.cells != []), None)
        if head is None:
            return
        header = _header(head, source, fields)
        starts: list[int] = []
        raws: list[bytes] = []
        size = 0
        for row in rows:
            if row.cells == []:  # a blank line, passed over as JSONL readers do
                continue
            if isinstance(row.cells, RecordError):
                if raws:
                    yield CsvBatch(source, header, delimiter, tuple(starts), tuple(raws))
                    starts, raws, size = [], [], 0
                yield row.cells
                continue
            starts.append(row.line)
            raws.append(row.raw)
            size += len(row.raw)
            if size >= batch_bytes:
                yield CsvBatch(source, header, delimiter, tuple(starts), tuple(raws))
                starts, raws, size = [], [], 0
        if raws:
            yield CsvBatch(source, header, delimiter, tuple(starts), tuple(raws))


# ---------------------------------------------------------------------------------------------
# Writing back (dedup clean): only text cells change


def cell_spans(row: str, delimiter: str) -> list[tuple[int, int]]:
    r"""(start, end) of every cell of one CSV row (its line ending after the last), quotes
    included: what ``csv.reader`` reads as the row's cells, in the standard dialect.

        >>> row = 'a,"b,""c"" d",\r\n'
        >>> [row[a:b] for a, b in cell_spans(row, ",")]
        ['a', '"b,""c"" d"', '']
    """
    end = len(row) - (2 if row.endswith("\r\n") else 1 if row.endswith(("\n", "\r")) else 0)
    spans, i = [], 0
    while True:
        if i < end and row[i] == '"':
            j = i + 1
            while (j := row.find('"', j)) >= 0 and row.startswith('""', j):
                j += 2
            stop = end if j < 0 else j + 1  # the delimiter, if the row keeps to the dialect
        else:
            found = row.find(delimiter, i, end)
            stop = end if found < 0 else found
        spans.append((i, stop))
        if stop >= end:
            return spans
        i = stop + 1


def quote_cell(value: str, delimiter: str, quoted: bool) -> str:
    """A cell as the standard dialect writes it: quoted when it was (``quoted``) or must be;
    an empty one is quoted too, or a row of that one cell would read as a blank line.

        >>> print(quote_cell('say "hi" now', ",", False), quote_cell("plain", ",", False), quote_cell("plain", ",", True))
        "say ""hi"" now" plain "plain"
    """
    if quoted or not value or any(c in value for c in (delimiter, '"', "\r", "\n")):
        return '"' + value.replace('"', '""') + '"'
    return value


def _replace_cell(row: str, delimiter: str, cells: list[str], at: int, value: str) -> str:
    """``row`` with cell ``at`` made ``value``, every other byte kept; when the row's cells
    cannot be told apart so (a dialect other than the standard one), written again whole."""
    spans = cell_spans(row, delimiter)
    if len(spans) == len(cells) and all(_parse_cell(row[a:b], delimiter) == cell for (a, b), cell in zip(spans, cells)):
        a, b = spans[at]
        return row[:a] + quote_cell(value, delimiter, row.startswith('"', a)) + row[b:]
    ending = row[len(row.rstrip("\r\n")) :]
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=ending).writerow(cells[:at] + [value] + cells[at + 1 :])
    return out.getvalue()


def _parse_cell(text: str, delimiter: str) -> str | None:
    try:
        cells = next(csv.reader([text], delimiter=delimiter, strict=True), [""])
    except csv.Error:
        return None
    return cells[0] if len(cells) == 1 else None


def rewrite_csv(path: Path, target: Path, source: str, text_field: str, edits: dict[int, Callable[[str, bytes], str]]) -> int:
    """Write the CSV or TSV file ``path`` to ``target`` with the text cell of the rows in
    ``edits`` (by first line) made ``edits[line](text, row bytes)``; every other row, the
    header and every other cell of an edited row are the original's bytes. Returns the rows
    rewritten."""
    stream, lines, delimiter = open_csv(path, source)
    changed = 0
    with stream, open(target, "wb") as sink:
        header: tuple[str, ...] | None = None
        for row in csv_rows(lines, source, delimiter):
            fix = edits.get(row.line)
            if header is None and row.cells != []:
                header = _header(row, source, RecordFields(text_field))
            elif fix is not None and isinstance(row.cells, list) and len(row.cells) == len(header):
                at = header.index(text_field)
                text = row.raw.decode("utf-8")
                sink.write(_replace_cell(text, delimiter, row.cells, at, fix(row.cells[at], row.raw)).encode("utf-8"))
                changed += 1
                continue
            sink.write(row.raw)
    return changed


_CODECS = {"UNCOMPRESSED": "none", "SNAPPY": "snappy", "GZIP": "gzip", "BROTLI": "brotli", "LZ4": "lz4", "LZ4_RAW": "lz4", "ZSTD": "zstd"}
CLEAN_BATCH_BYTES = 64 << 20  # a row group up to this size is written back as one


def rewrite_parquet(path: Path, target: Path, source: str, text_field: str, edits: dict[int, Callable[[str], str]]) -> int:
    """Write the Parquet file ``path`` to ``target`` with the text of the rows in ``edits`` (by
    1-based row) made ``edits[row](text)``: the same schema (its metadata included), every
    other column and row as they were, each column compressed with its codec. A row group of
    up to ``CLEAN_BATCH_BYTES`` stays one row group; a larger one is written in slices of that
    size, so memory stays bounded. Returns the rows rewritten."""
    pq = _pyarrow_parquet(source)
    import pyarrow as pa

    parquet = open_parquet(path, source)
    try:
        metadata, schema = parquet.metadata, parquet.schema_arrow
        at = schema.get_field_index(text_field)
        codecs = {}
        if metadata.num_row_groups:
            group = metadata.row_group(0)
            codecs = {group.column(i).path_in_schema: _CODECS.get(group.column(i).compression, "snappy") for i in range(group.num_columns)}
        version = metadata.format_version if metadata.format_version in ("1.0", "2.4", "2.6") else "2.6"
        changed, number = 0, 0
        with pq.ParquetWriter(target, schema, compression=codecs or "snappy", version=version) as writer:
            for g in range(metadata.num_row_groups):
                stats = metadata.row_group(g)
                rows = max(1, CLEAN_BATCH_BYTES * stats.num_rows // max(stats.total_byte_size, 1))
                for batch in parquet.iter_batches(batch_size=rows, row_groups=[g], use_threads=False):
                    mine = [n for n in range(number + 1, number + batch.num_rows + 1) if n in edits]
                    if mine:
                        column = batch.column(at)
                        values = column.to_pylist()
                        for n in mine:
                            old = values[n - number - 1]
                            if old is None:
                                continue
                            new = edits[n](old.decode("utf-8") if isinstance(old, bytes) else old)
                            values[n - number - 1] = new.encode("utf-8") if isinstance(old, bytes) else new
                            changed += 1
                        arrays = batch.columns
                        arrays[at] = pa.array(values, type=column.type)
                        batch = pa.RecordBatch.from_arrays(arrays, schema=batch.schema)
                    writer.write_batch(batch)
                    number += batch.num_rows
    finally:
        parquet.close(force=True)  # it closes the file it was given only so
    return changed
