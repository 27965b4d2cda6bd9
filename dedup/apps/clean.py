"""Write a corpus again without its duplicate paragraphs: the cleanup step before other pipelines.

``clean_corpus`` reads a scan's database and writes every file of the corpus into a new folder,
same layout, same names, same encoding:

* text files (``.txt``, ``.md``): the lines of every removed paragraph are cut out; every other
  byte is the original's, line endings included. The raw bytes are cut, not decoded and
  encoded again, so nothing a decoder might normalize can change (UTF-16 is cut in its own
  code units and keeps its byte-order mark).
* JSON Lines: a record with a removed paragraph gets its text field rewritten (its other fields
  and their order kept); every other record is written back byte for byte. A record whose
  every paragraph goes stays, with its text emptied of them, so no record is ever lost.
* Parquet, CSV and TSV files: the text cell of a row with a removed paragraph is rewritten;
  nothing else changes (tabular.rewrite_parquet: the same schema, columns and codecs;
  tabular.rewrite_csv: every other row and cell byte for byte, the header and delimiter kept).
* HTML and WARC files (and files without a suffix that the scan read as HTML) cannot have
  text cut out of their markup safely; they are copied unchanged, and their duplicates are
  listed in the manifest with ``"removed": false``.
* every other file (images, skipped binaries) is copied unchanged. With ``--include`` or
  ``--exclude`` (``selection``), only the files they select are written.

Which paragraphs go (``keep``): ``canonical`` removes every member of a cluster but its
canonical; ``first`` keeps the first member in corpus order instead. ``mark`` removes nothing:
JSONL records get a field (``MARK_FIELD``) listing the duplicate spans, text files are copied
unchanged (tables too: a column added would change their schema), and the manifest lists
the same spans.

The manifest (JSON Lines, ``.dedup-manifest.jsonl`` in the output folder: hidden, so a scan of
the output does not read it) has one line per duplicate paragraph: where it is, and the
document and lines of the paragraph it duplicates.

Safety: the output folder must not be the corpus, inside it, or around it; it must be empty
unless ``force``; the output is written as one (``atomic.AtomicFiles``): every file goes to a
temporary name beside its target and all of them are moved into place once the last one and
the manifest are complete, so a clean that stops (a file that changed since the scan, a full
disk, Ctrl-C) leaves the output folder as it was, the folders it made removed again.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import re
import shutil
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import AtomicFiles, remove_temporaries
from ..sources.corpus import BINARY_SNIFF_BYTES, SNIFF, hash_file, open_regular, reader_of, relative_path
from ..errors import DedupError
from ..sources.records import open_lines
from ..sources.selection import INCLUDED, Selection
from ..sources.dispatch import sniffs_as_html
from ..sources.tabular import is_parquet_name, rewrite_csv, rewrite_parquet
from ..sources.webpage import is_html_name, is_warc_name

KEEP_POLICIES = ("canonical", "first")
MANIFEST_NAME = ".dedup-manifest.jsonl"
MARK_FIELD = "dedup_duplicates"

# A line ends at "\r\n", a lone "\r" or "\n": the line numbering of corpus.decode_bytes.
_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE_END_BYTES = re.compile(rb"\r\n|\r|\n")


class CleanError(DedupError):
    """The clean cannot go on: a bad output folder, a corpus that changed since the scan."""


@dataclass(frozen=True)
class Duplicate:
    """One duplicate paragraph: where it is and what it duplicates."""

    paragraph_id: int
    doc_id: int
    line_start: int
    line_end: int
    cluster_id: int
    relation: str
    similarity: float
    kept_paragraph_id: int
    kept_document: str
    kept_line_start: int
    kept_line_end: int


@dataclass
class CleanResult:
    files_written: int = 0
    files_copied: int = 0
    records_rewritten: int = 0  # JSONL records
    rows_rewritten: int = 0  # rows of Parquet, CSV and TSV files
    removed: int = 0  # paragraphs removed
    listed: int = 0  # duplicates listed but left in place (mark, HTML, WARC)
    manifest: Path | None = None
    notes: list[str] = field(default_factory=list)


# -- cutting lines -----------------------------------------------------------------------------


def line_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every line of ``text``, its line ending included; lines end as in
    ``corpus.decode_bytes`` ("\\r\\n", lone "\\r", "\\n"), so line N here is line N there.

        >>> line_spans("a\\r\\nb\\rc\\n\\nd")
        [(0, 3), (3, 5), (5, 7), (7, 8), (8, 9)]
    """
    spans, start = [], 0
    for match in _LINE_END.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    if start < len(text) or not spans:
        spans.append((start, len(text)))
    return spans


def remove_lines(text, ranges: Iterable[tuple[int, int]]):
    """``text`` (str or bytes) without the lines in ``ranges`` (1-based, inclusive), line endings
    and every other line kept exactly; a text that ended without a line end still does.

        >>> remove_lines("one\\r\\ntwo\\nthree\\nfour", [(2, 3)])
        'one\\r\\nfour'
        >>> remove_lines(b"a\\nb\\nc\\n", [(3, 3)])
        b'a\\nb\\n'
        >>> remove_lines("a\\r\\nb", [(2, 2)])
        'a'
    """
    drop = set()
    for start, end in ranges:
        drop.update(range(start, end + 1))
    if not drop:
        return text
    pattern = _LINE_END_BYTES if isinstance(text, bytes) else _LINE_END
    pieces, start, number = [], 0, 1
    for match in pattern.finditer(text):
        if number not in drop:
            pieces.append(text[start : match.end()])
        start, number = match.end(), number + 1
    if start < len(text):
        if number not in drop:
            pieces.append(text[start:])
        elif pieces:  # the unterminated last line went: the text still ends without a line end
            pieces[-1] = _chop(pieces[-1], pattern)
    return text[:0].join(pieces)


def _chop(line, pattern):
    """``line`` without its line ending."""
    match = pattern.search(line)
    return line[: match.start()] if match else line


def _cut_text_file(data: bytes, encoding: str, ranges: list[tuple[int, int]]) -> bytes:
    """Remove lines from a text file's raw bytes, in its own encoding."""
    if encoding == "utf-8-sig":  # the byte-order mark belongs to the file, not to line 1
        return data[:3] + remove_lines(data[3:], ranges)
    if encoding != "utf-16":  # UTF-8, GB18030, Big5: "\r" and "\n" are single bytes that
        return remove_lines(data, ranges)  # never occur inside a character
    codec = "utf-16-le" if data.startswith(b"\xff\xfe") else "utf-16-be"
    return data[:2] + remove_lines(data[2:].decode(codec), ranges).encode(codec)


# -- the plan: which paragraphs go ------------------------------------------------------------


def duplicates(conn, keep: str) -> Iterator[Duplicate]:
    """Every paragraph to remove (or mark) under ``keep``, in corpus order."""
    if keep not in KEEP_POLICIES:
        raise DedupError(f"unknown keep policy {keep!r}; choose one of {', '.join(KEEP_POLICIES)}")
    # the member kept in each cluster: its canonical, or its first whole member in corpus order
    # (a fragment -- relation 'contained' -- is never kept over the whole it came from; ids
    # are not corpus order after an update, so the order is spelled out)
    order = "d.source, coalesce(d.record, 0), d.id, p.idx"
    kept = "c.canonical_id" if keep == "canonical" else "f.paragraph_id"
    rows = conn.execute(
        f"""WITH firsts AS (
                SELECT cluster_id, paragraph_id FROM (
                    SELECT m.cluster_id, m.paragraph_id,
                           row_number() OVER (PARTITION BY m.cluster_id ORDER BY {order}) AS n
                    FROM members m JOIN paragraphs p ON p.id = m.paragraph_id JOIN documents d ON d.id = p.doc_id
                    WHERE m.relation != 'contained')
                WHERE n = 1)
            SELECT p.id, p.doc_id, p.line_start, p.line_end, m.cluster_id, m.relation, m.similarity,
                   k.id, kd.path, k.line_start, k.line_end
            FROM members m JOIN clusters c ON c.id = m.cluster_id JOIN firsts f ON f.cluster_id = c.id
            JOIN paragraphs k ON k.id = {kept} JOIN documents kd ON kd.id = k.doc_id
            JOIN paragraphs p ON p.id = m.paragraph_id JOIN documents d ON d.id = p.doc_id
            WHERE m.paragraph_id != k.id
            ORDER BY {order}"""
    )
    for row in rows:
        yield Duplicate(*row)


# -- the clean ---------------------------------------------------------------------------------


def check_output(corpus: Path, out: Path, force: bool) -> None:
    """Refuse an output folder that is the corpus, inside it or around it, or not empty."""
    c, o = corpus.resolve(), out.resolve()
    if o == c or c in o.parents:
        raise CleanError(f"{out} is inside the corpus {corpus}; choose an output folder outside it")
    if o in c.parents:
        raise CleanError(f"{out} holds the corpus {corpus}; choose an output folder outside it")
    if out.exists() and not out.is_dir():
        raise CleanError(f"{out} is a file; pass a folder to --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise CleanError(f"{out} is not empty; choose an empty folder, or pass --force to write into it")


def clean_corpus(
    corpus: str | os.PathLike,
    out: str | os.PathLike,
    db: str | os.PathLike,
    *,
    keep: str = "canonical",
    mark: bool = False,
    force: bool = False,
    manifest: str | os.PathLike | None = None,
    selection: Selection = Selection(),
) -> CleanResult:
    """Write ``corpus`` to ``out`` without the duplicates the scan in ``db`` found (see the module
    docstring); with ``selection``, only the files its patterns select (``SelectionError`` for
    one that matches nothing). Raises ``CleanError`` (or ``DatabaseError``) before writing
    anything when the output folder or the database does not fit the corpus."""
    corpus, out = Path(corpus), Path(out)
    if not corpus.exists():
        raise CleanError(f"corpus folder not found: {corpus}")
    if str(corpus) == "-":
        raise CleanError("clean writes files and cannot clean stdin; use 'dedup filter' in a pipe")
    check_output(corpus, out, force)
    if out.is_dir():
        remove_temporaries(out)  # left by a clean into the same folder that was killed outright
    text_field, by_doc, docs_by_source = _what_to_remove(corpus, db, keep)
    manifest_path = Path(manifest) if manifest else out / MANIFEST_NAME
    if manifest:
        c, m = corpus.resolve(), manifest_path.resolve()
        if m == c or c in m.parents:
            raise CleanError(f"{manifest} is inside the corpus {corpus}; write the manifest elsewhere")
        if manifest_path.exists() and not force:
            raise CleanError(f"{manifest} exists; choose another --manifest path, or pass --force to replace it")
    result = CleanResult()
    entries: list[dict] = []
    files = _selected([corpus] if corpus.is_file() else sorted(_all_files(corpus)), corpus, selection)
    markup = False
    with AtomicFiles("the cleaned file", "point --out elsewhere") as output:
        output.folder(out)
        for path in files:
            rel = relative_path(path, corpus)
            target = out / rel
            output.folder(target.parent)
            docs = docs_by_source.get(rel, [])
            reader = reader_of(path.name)
            if docs and reader == "jsonl":
                _clean_jsonl(output, path, target, rel, docs, by_doc, text_field, mark, result, entries)
            elif docs and reader == "table":
                _clean_table(output, path, target, rel, docs, by_doc, text_field, mark, result, entries)
            elif docs and reader not in ("html", "warc") and not (reader in (None, SNIFF) and _read_as_html(path)):
                _clean_text(output, path, target, rel, docs[0], by_doc.get(docs[0][0], []), mark, result, entries)
            else:
                markup = markup or bool(docs)
                for doc in docs:  # HTML, WARC: listed, not cut
                    for dup in by_doc.get(doc[0], []):
                        entries.append(_entry(rel, doc, dup, removed=False))
                        result.listed += 1
                output.write(target, lambda tmp, src=path: shutil.copyfile(src, tmp))
                result.files_copied += 1
        if markup or any(is_html_name(p.name) or is_warc_name(p.name) for p in files):
            result.notes.append("HTML and WARC files were copied unchanged; their duplicates are listed in the manifest")
        output.write(manifest_path, lambda tmp: _write_manifest(tmp, entries), what="the manifest",
                     elsewhere="point --manifest elsewhere" if manifest else "point --out elsewhere")
    result.manifest = manifest_path
    return result


def _what_to_remove(corpus: Path, db, keep: str) -> tuple[str, dict[int, list["Duplicate"]], dict[str, list[tuple]]]:
    """(the text field of records, the duplicates to remove by document id, the documents rows
    by source file) of the scan in ``db``, checked to be a scan of ``corpus`` as it is now."""
    from ..store.writer import open_existing

    conn = open_existing(db).conn
    try:
        root, config = conn.execute("SELECT root, config FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        if root != str(corpus.resolve()):
            raise CleanError(f"{db} holds a scan of {root}, not of {corpus.resolve()}; scan {corpus} first, or pass its database")
        text_field = json.loads(config).get("text_field", "text")
        # every input file must be as the scan saw it: a copy is removed because its kept twin
        # is somewhere, and that twin's file may be the one that changed or went away
        for source, sha1 in conn.execute("SELECT source, sha1 FROM files"):
            path = corpus / source if corpus.is_dir() else corpus
            if not path.is_file() or hash_file(path)[0] != sha1:
                raise CleanError(f"{source} changed or went away since the scan; scan the corpus again before cleaning")
        by_doc: dict[int, list[Duplicate]] = defaultdict(list)
        for dup in duplicates(conn, keep):
            by_doc[dup.doc_id].append(dup)
        docs_by_source: dict[str, list[tuple]] = defaultdict(list)
        for row in conn.execute("SELECT id, path, source, record, encoding, sha1 FROM documents ORDER BY id"):
            docs_by_source[row[2] or row[1]].append(row)
    finally:
        conn.close()
    return text_field, by_doc, docs_by_source


def _selected(files: list[Path], corpus: Path, selection: Selection) -> list[Path]:
    """The files ``selection``'s patterns keep (every one, without patterns); raises
    ``SelectionError`` for a pattern that matches nothing, as a scan's listing does."""
    if not selection:
        return files
    matcher = selection.matcher()
    kept = [path for path in files if matcher.verdict(relative_path(path, corpus)) in (None, INCLUDED)]
    matcher.check(str(corpus))
    return kept


def _read_as_html(path: Path) -> bool:
    """Was this file, which no suffix names, read as HTML by the scan (``sources.read_sniffed``)?"""
    try:
        with open_regular(path) as file:
            return sniffs_as_html(file.read(BINARY_SNIFF_BYTES))
    except OSError:
        return False


def _all_files(root: Path) -> Iterator[Path]:
    """Every regular file below ``root`` but hidden ones, symlinked folders not entered (as the scan)."""
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            path = Path(folder, name)
            if not name.startswith(".") and path.is_file():
                yield path


def _entry(rel: str, doc: tuple, dup: Duplicate, removed: bool) -> dict:
    return {
        "document": doc[1],
        "source": rel,
        "record": doc[3],
        "line_start": dup.line_start,
        "line_end": dup.line_end,
        "paragraph_id": dup.paragraph_id,
        "cluster_id": dup.cluster_id,
        "relation": dup.relation,
        "similarity": dup.similarity,
        "kept_document": dup.kept_document,
        "kept_line_start": dup.kept_line_start,
        "kept_line_end": dup.kept_line_end,
        "kept_paragraph_id": dup.kept_paragraph_id,
        "removed": removed,
    }


def _write_manifest(path: Path, entries: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for entry in entries:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _changed(rel: str) -> CleanError:
    return CleanError(f"{rel} changed since the scan (its SHA-1 differs); scan the corpus again before cleaning")


def _clean_text(output: AtomicFiles, path: Path, target: Path, rel: str, doc: tuple, dups: list[Duplicate], mark: bool, result: CleanResult, entries: list[dict]) -> None:
    data = path.read_bytes()
    if hashlib.sha1(data).hexdigest() != doc[5]:
        raise _changed(rel)
    entries.extend(_entry(rel, doc, d, removed=not mark) for d in dups)
    if mark or not dups:
        output.write(target, lambda tmp: tmp.write_bytes(data))
        result.files_copied += 1
        result.listed += len(dups) if mark else 0
        return
    cleaned = _cut_text_file(data, doc[4], [(d.line_start, d.line_end) for d in dups])
    output.write(target, lambda tmp: tmp.write_bytes(cleaned))
    result.files_written += 1
    result.removed += len(dups)


def _clean_table(output: AtomicFiles, path, target, rel, docs, by_doc, text_field, mark, result, entries) -> None:
    """Rewrite the text of the rows with duplicates (by ``documents.record``: a Parquet row's
    position, a CSV row's first line); copy the file when none has any, or under ``mark``."""
    edits = {}
    for doc in docs:
        dups = by_doc.get(doc[0], [])
        if not dups:
            continue
        entries.extend(_entry(rel, doc, d, removed=not mark) for d in dups)
        if mark:
            result.listed += len(dups)
            continue
        result.removed += len(dups)
        ranges = [(d.line_start, d.line_end) for d in dups]
        edits[doc[3]] = functools.partial(_cut_row, ranges=ranges, sha1=doc[5], where=f"{rel}:{doc[3]}")
    if not edits:
        output.write(target, lambda tmp: shutil.copyfile(path, tmp))
        result.files_copied += 1
        return
    rewrite = rewrite_parquet if is_parquet_name(path.name) else rewrite_csv
    result.rows_rewritten += output.write(target, lambda tmp: rewrite(path, tmp, rel, text_field, edits))
    result.files_written += 1


def _cut_row(text: str, raw: bytes | None = None, *, ranges, sha1: str, where: str) -> str:
    """A row's text without the lines in ``ranges``; a CSV row (``raw``: its bytes) must be as
    the scan read it (a Parquet file was checked whole)."""
    if raw is not None and hashlib.sha1(raw).hexdigest() != sha1:
        raise _changed(where)
    return remove_lines(text, ranges)


def _clean_jsonl(output: AtomicFiles, path, target, rel, docs, by_doc, text_field, mark, result, entries) -> None:
    """Rewrite the records with duplicates; copy every other line byte for byte."""
    by_line = {doc[3]: doc for doc in docs}
    gz = path.name.lower().endswith(".gz")

    def write(tmp: Path) -> None:
        opener = gzip.open if gz else open
        with open_lines(path) as lines, opener(tmp, "wb") as sink:
            for number, line in enumerate(lines, start=1):
                doc = by_line.get(number)
                dups = by_doc.get(doc[0], []) if doc else []
                if not dups:
                    sink.write(line)
                    continue
                if hashlib.sha1(line).hexdigest() != doc[5]:
                    raise _changed(f"{rel}:{number}")
                entries.extend(_entry(rel, doc, d, removed=not mark) for d in dups)
                record = json.loads(line)
                if mark:
                    record[MARK_FIELD] = [
                        {k: v for k, v in _entry(rel, doc, d, removed=False).items() if k not in ("document", "source", "record", "removed")}
                        for d in dups
                    ]
                    result.listed += len(dups)
                else:
                    record[text_field] = remove_lines(record[text_field], [(d.line_start, d.line_end) for d in dups])
                    result.removed += len(dups)
                ending = b"\r\n" if line.endswith(b"\r\n") else b"\n" if line.endswith(b"\n") else b""
                sink.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + ending)
                result.records_rewritten += 1

    try:
        output.write(target, write)
    except (EOFError, zlib.error, gzip.BadGzipFile):  # EOFError would reach click as an interrupt
        raise CleanError(f"{rel}: broken gzip stream, of which the scan read only the records before the break; repair the file or remove it, then scan again") from None
    result.files_written += 1
