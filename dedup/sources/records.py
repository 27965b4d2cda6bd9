"""JSONL input: one document per line, as crawlers and data pipelines write them.

A record is a JSON object on one line. Its text field (``--text-field``, default ``text``)
becomes the document's text, its id field (``--id-field``, default ``id``) the document's path
in the database, or ``FILE:LINE`` when the record has none. Every other field is kept as the
document's metadata (JSON), and a date field (``--date-field``) feeds the ``earliest``
canonical policy.

Lines are read as bytes and parsed in the worker processes; the main process only cuts the
input into batches of lines (``line_batches``), so a ``.jsonl.gz`` file or stdin streams
through a scan without being held in memory. Blank lines are passed over, as JSONL readers do.
A bad line is an error naming the file and the line (``RecordError``); with ``--skip-bad``
it is skipped and counted.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .corpus import CorpusFileError, Document, UnreadableFileError, cannot_read, normalize_newlines, open_regular, reader_of

STDIN = "-"
BATCH_BYTES = 4 << 20  # bytes of JSONL a worker job parses: big enough to amortize the trip
_FIRST_TIME = dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc).timestamp()  # what datetime can show
_LAST_TIME = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc).timestamp()
_TOO_DEEP = "nested too deeply to read (arrays or objects about a thousand levels down); fix the line, or pass --skip-bad"


class RecordError(CorpusFileError):
    """One JSONL record cannot be used; ``path`` is ``FILE:LINE``."""


@dataclass(frozen=True)
class RecordFields:
    """Which fields of a record hold its text, its id and its date."""

    text: str = "text"
    id: str = "id"
    date: str | None = None


@dataclass(frozen=True)
class LineBatch:
    """Consecutive lines of one JSONL source, the first of them numbered ``first_line``."""

    source: str
    first_line: int
    lines: list[bytes]


def is_jsonl_name(name: str) -> bool:
    return reader_of(name) == "jsonl"


def open_lines(path: Path | str) -> BinaryIO:
    """A binary stream of a JSONL source: stdin for ``-``, gunzipped for ``.gz``."""
    if str(path) == STDIN:
        return sys.stdin.buffer
    raw = open_regular(path)  # a FIFO would block
    if str(path).lower().endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def line_batches(path: Path | str, source: str, batch_bytes: int | None = None) -> Iterator[LineBatch]:
    """Cut a JSONL source into batches of about ``batch_bytes`` (default ``BATCH_BYTES``); raises
    ``UnreadableFileError`` naming ``source`` if the file cannot be read or its gzip stream is
    broken."""
    batch_bytes = batch_bytes or BATCH_BYTES
    try:
        stream = open_lines(path)
    except OSError as error:
        raise UnreadableFileError(source, cannot_read(error, "file")) from None
    try:
        lines: list[bytes] = []
        size, first, number = 0, 1, 0
        for number, line in enumerate(stream, start=1):
            lines.append(line)
            size += len(line)
            if size >= batch_bytes:
                yield LineBatch(source, first, lines)
                lines, size, first = [], 0, number + 1
        if lines:
            yield LineBatch(source, first, lines)
    except (OSError, EOFError, zlib.error) as error:
        # The lines read before the break are whole (a line comes out only with its end), and
        # all of them are given, not only the full batches: what --skip-bad keeps of a damaged
        # file must be what the message says, whatever the batch size.
        if lines:
            yield LineBatch(source, first, lines)
        reason = "broken gzip stream" if isinstance(error, (EOFError, zlib.error, gzip.BadGzipFile)) else str(error)
        keep = f"to keep lines 1-{number} and skip the rest" if number else "to skip it"
        raise UnreadableFileError(source, f"{reason} after line {number}; repair or remove it, or pass --skip-bad {keep}") from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def parse_date(value: object) -> float | None:
    """Seconds since the epoch of an ISO 8601 date or a Unix time; None for a missing value.

    Raises ValueError for anything else, a time outside the years 1 to 9999 included (no date
    can show it). A date without a zone is taken as UTC; a string of digits is a Unix time.

        >>> parse_date("2021-03-04"), parse_date("2021-03-04T08:00:00Z"), parse_date(1614816000)
        (1614816000.0, 1614844800.0, 1614816000.0)
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        if not _FIRST_TIME <= value <= _LAST_TIME:  # NaN too
            raise ValueError(value)
        return float(value)
    if not isinstance(value, str):
        raise ValueError(value)
    text = value.strip()
    try:
        return parse_date(float(text))  # a Unix time given as a string (or kept as one here)
    except ValueError:
        pass
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parse_date(parsed.timestamp())  # "0001-01-01T00:00+14:00" is in the year 0


def parse_record(line: bytes, source: str, number: int, fields: RecordFields) -> Document | None:
    """The document of one JSONL line (None for a blank line); raises ``RecordError``."""
    record = load_record(line, f"{source}:{number}")
    return None if record is None else record_document(record, source, number, fields, raw=line)


def _surely_encodable(line: bytes) -> bool:
    """Whether ``json.dumps`` of ``json.loads(line)`` surely succeeds, without calling it: the
    line is UTF-8 as ``json.loads`` reads it (no BOM or NUL byte that makes it read UTF-16 or
    UTF-32), strict UTF-8 encodes no surrogate, no ``\\u`` escape can make one, and too few
    brackets open to nest anywhere near the recursion limit."""
    if b"\\u" in line or b"\x00" in line[:4] or line.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    if line.count(b"[") + line.count(b"{") >= 200:
        return False
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def load_record(line: bytes, where: str) -> dict | None:
    """The JSON object of one JSONL line (None for a blank line); raises ``RecordError`` naming
    ``where`` (``FILE:LINE``) for a line that is no JSON object or holds no text."""
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except UnicodeDecodeError:
        raise RecordError(where, "not UTF-8 (JSON Lines must be UTF-8); convert it, or pass --skip-bad") from None
    except json.JSONDecodeError as error:
        raise RecordError(where, f"not valid JSON ({error.msg} at column {error.colno}); fix the line, or pass --skip-bad") from None
    except ValueError:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise RecordError(where, "holds an integer too long to read; fix the line, or pass --skip-bad") from None
    except RecursionError:
        raise RecordError(where, _TOO_DEEP) from None
    try:  # "\ud83d" (half an emoji) is valid JSON but no text: nothing downstream can encode it
        if not _surely_encodable(line):
            json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise RecordError(where, "holds a lone surrogate escape (half of a \\uXXXX pair), which is not text; fix it, or pass --skip-bad") from None
    except RecursionError:
        raise RecordError(where, _TOO_DEEP) from None
    if not isinstance(record, dict):
        raise RecordError(where, f"a JSON {type(record).__name__}, not an object; each line must be one record: fix it, or pass --skip-bad")
    return record


def record_text(record: dict, where: str, fields: RecordFields) -> str:
    """The text field of a record; raises ``RecordError`` when it is missing or no string."""
    if fields.text not in record:
        raise RecordError(where, f"no {fields.text!r} field; name the text field with --text-field, or pass --skip-bad")
    text = record[fields.text]
    if not isinstance(text, str):
        raise RecordError(where, f"field {fields.text!r} is {type(text).__name__}, not a string; name the text field with --text-field, or pass --skip-bad")
    return text


def record_document(record: dict, source: str, number: int, fields: RecordFields, raw: bytes | None = None) -> Document:
    """The document of one parsed record (a JSONL line's object, a dataset row for the Spark
    engine); raises ``RecordError``. ``raw``: the record's bytes as read, whose size and SHA-1
    identify it; without them, its text's UTF-8. Metadata is every other field, as JSON (a
    value JSON has no form for, as a dataset's timestamp, as its string)."""
    where = f"{source}:{number}"
    text = record_text(record, where, fields)
    identifier = record.get(fields.id)
    date = None
    if fields.date is not None:
        value = record.get(fields.date)
        try:
            parse_date(value)
        except (ValueError, TypeError, OverflowError):
            raise RecordError(
                where, f"field {fields.date!r} is {value!r}, not an ISO 8601 date or a Unix time; fix it, or drop --date-field"
            ) from None
        date = None if value is None or value == "" else str(value)
    meta = {k: v for k, v in record.items() if k != fields.text}
    data = raw if raw is not None else text.encode("utf-8")
    return Document(
        path=where if identifier is None or identifier == "" else str(identifier),
        text=normalize_newlines(text),
        encoding="utf-8",
        size=len(data),
        sha1=hashlib.sha1(data).hexdigest(),
        source=source,
        record=number,
        date=date,
        meta=json.dumps(meta, ensure_ascii=False, sort_keys=True, default=str) if meta else None,
    )


def parse_batch(batch: LineBatch, fields: RecordFields) -> list[Document | RecordError]:
    """Every record of a batch in order: its document, or the error that line gives."""
    out: list[Document | RecordError] = []
    for number, line in enumerate(batch.lines, start=batch.first_line):
        try:
            doc = parse_record(line, batch.source, number, fields)
        except RecordError as error:
            out.append(error)
            continue
        if doc is not None:
            out.append(doc)
    return out


def read_records(path: Path | str, source: str, fields: RecordFields = RecordFields()) -> Iterator[Document | RecordError]:
    """Every record of a JSONL source, in order (one process; the scan parses on workers)."""
    for batch in line_batches(path, source):
        yield from parse_batch(batch, fields)


__all__ = [
    "STDIN",
    "LineBatch",
    "RecordError",
    "RecordFields",
    "is_jsonl_name",
    "line_batches",
    "open_lines",
    "parse_batch",
    "parse_date",
    "parse_record",
    "read_records",
]
