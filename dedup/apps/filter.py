"""Filter a JSONL stream: drop (or mark) paragraphs seen before, in a reference corpus or earlier
in the stream itself. What ``dedup filter`` runs, a stage in a Unix pipe.

Records are read in batches of ``BATCH_RECORDS`` lines and written back in order, each as soon as
its batch is done, so memory holds one batch plus the index (``index.KeyIndex``, on disk). A
record's paragraphs are split and normalized as a scan does; a paragraph that copies an indexed
one (exact, near or contained) is cut from the text field (``remove_lines``), or, with ``mark``,
listed in a field ``MARK_FIELD`` and left in place. Every other paragraph of the stream is added
to the index (unless ``stream`` is off), so its later copies go: the first occurrence stays.

With a reference (``reference_index``: a scan's database), a paragraph is first looked up
there (``lookup.StoredIndex``, as ``POST /query`` does), then in the stream.

A record without duplicates is written back byte for byte; one with duplicates is written as
``json.dumps`` of the record with its text changed (or the mark added), other fields unchanged.
A line that is not a usable record stops the filter with its line number, or, with
``skip_bad``, is passed through unchanged and counted: no record is ever lost.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .clean import MARK_FIELD, remove_lines
from ..config import ScanConfig
from ..store.index import KeyIndex, Match
from ..compiled import make_normalizer
from ..text.paragraphs import split_paragraphs
from ..sources.records import RecordError, RecordFields, parse_record

BATCH_RECORDS = 1000


@dataclass
class FilterResult:
    records: int = 0
    rewritten: int = 0
    paragraphs: int = 0
    duplicates: int = 0
    passed_bad: int = 0  # bad lines passed through unchanged under skip_bad


def _parse_batch(batch: list[tuple[int, bytes]], source: str, fields: RecordFields, skip_bad: bool,
                 on_skip: Callable[[RecordError], None] | None) -> list:
    """The record of every numbered line (None for a blank one), or its error under ``skip_bad``."""
    docs = []
    for number, line in batch:
        try:
            docs.append(parse_record(line, source, number, fields))
        except RecordError as error:
            if not skip_bad:
                raise
            if on_skip:
                on_skip(error)
            docs.append(error)
    return docs


def _batch_matches(docs: list, paragraphs: list[list], normalizer, index: KeyIndex, reference, stream: bool) -> list[Match | None]:
    """What every paragraph of a batch copies (None: nothing), in order: the reference first,
    then the stream's index (which learns the paragraphs that copy nothing, when ``stream``)."""
    keys = [normalizer(p.text) for ps in paragraphs for p in ps]
    refs = [
        {"document": d.path, "line_start": p.line_start, "line_end": p.line_end, "in": "stream"}
        for d, ps in zip(docs, paragraphs) for p in ps
    ]
    found: list[Match | None] = [None] * len(keys)
    if reference is not None:
        flat = [p for ps in paragraphs for p in ps]
        for i, answer in enumerate(reference.match_keys(flat, keys, within=False)):
            if answer.status == "copy":
                found[i] = Match({**answer.canonical, "in": "reference"}, answer.relation, answer.similarity, answer.containment)
    rest = [i for i, m in enumerate(found) if m is None]
    in_stream = index.match([keys[i] for i in rest], [refs[i] for i in rest] if stream else None)
    for i, m in zip(rest, in_stream):
        found[i] = m
    return found


def _rewritten(line: bytes, found: list, fields: RecordFields, mark: bool) -> bytes:
    """The record of ``line`` with its ``found`` (paragraph, match) copies cut from the text
    field, or listed in ``MARK_FIELD``; its line ending kept."""
    record = json.loads(line)
    if mark:
        record[MARK_FIELD] = [
            {"line_start": p.line_start, "line_end": p.line_end, "relation": m.relation, "similarity": m.similarity,
             "containment": m.containment, "copies": m.ref}
            for p, m in found
        ]
    else:
        record[fields.text] = remove_lines(record[fields.text], [(p.line_start, p.line_end) for p, _ in found])
    ending = b"\r\n" if line.endswith(b"\r\n") else b"\n"
    return json.dumps(record, ensure_ascii=False).encode("utf-8") + ending


def reference_index(db):
    """The lookup index of a scan's database (a reference corpus) and that scan's config: built
    from the band hashes and anchors the scan stored, in seconds, not by normalizing it again."""
    from ..store.lookup import StoredIndex

    reference = StoredIndex(db)
    return reference, reference.config


def filter_stream(
    lines: Iterable[bytes],
    write: Callable[[bytes], object],
    index: KeyIndex,
    config: ScanConfig,
    *,
    reference=None,
    source: str = "-",
    fields: RecordFields = RecordFields(),
    stream: bool = True,
    mark: bool = False,
    skip_bad: bool = False,
    on_skip: Callable[[RecordError], None] | None = None,
) -> FilterResult:
    """Filter JSONL ``lines`` into ``write`` (see the module docstring); raises ``RecordError``
    at the first bad line unless ``skip_bad``."""
    normalizer = make_normalizer(config.steps)
    result = FilterResult()
    numbered = enumerate(lines, start=1)
    while batch := list(itertools.islice(numbered, BATCH_RECORDS)):
        docs = _parse_batch(batch, source, fields, skip_bad, on_skip)
        paragraphs = [split_paragraphs(d.text, config.split) if d is not None and not isinstance(d, RecordError) else [] for d in docs]
        matches = iter(_batch_matches(docs, paragraphs, normalizer, index, reference, stream))
        for (_, line), doc, ps in zip(batch, docs, paragraphs):
            if isinstance(doc, RecordError):
                result.passed_bad += 1
            elif doc is not None:
                result.records += 1
            found = [(p, m) for p in ps if (m := next(matches)) is not None]
            result.paragraphs += len(ps)
            if not found:
                write(line)
                continue
            result.duplicates += len(found)
            result.rewritten += 1
            write(_rewritten(line, found, fields, mark))
    return result
