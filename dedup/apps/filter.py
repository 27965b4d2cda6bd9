"""Filter a JSONL stream: drop (or mark) paragraphs seen before, in a reference corpus or earlier
in the stream itself. What ``dedup filter`` runs, a stage in a Unix pipe.

Records are read in batches of ``batch`` lines (``ready_batches``) and written back in order,
each as soon as its batch is done, so memory holds one batch plus the index (``index.KeyIndex``
or the compiled core's ``index.CompiledKeyIndex``). A batch goes through the scan's compiled
path: its records' paragraphs split as a scan splits them, all their keys normalized in one call
to the core and signed in another (by a forked process reading ahead, under ``dedup filter``),
then looked up in the stream's index in one call of the index (``match_encoded``). A paragraph
that copies an indexed one (exact, near or contained) is cut from the text field
(``remove_lines``), or, with ``mark``, listed in a field ``MARK_FIELD`` and left in place.
Every other paragraph of the stream is added to the index (unless ``stream`` is off), so its
later copies go, in the same batch too: the first occurrence stays, and the decisions do not
depend on the batch size (a test compares them with batches of one record).

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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .clean import MARK_FIELD, remove_lines
from ..config import ScanConfig
from ..workers import made_ahead
from ..store.index import EncodedKeys, KeyIndex, Match
from ..compiled import make_normalizer
from ..text.paragraphs import Paragraph, paragraph_splitter
from ..sources.corpus import normalize_newlines
from ..sources.records import RecordError, RecordFields, load_record, record_document, record_text

BATCH_RECORDS = 500  # records a batch, by default (``dedup filter --batch``, which says the same)


@dataclass
class FilterResult:
    records: int = 0
    rewritten: int = 0
    paragraphs: int = 0
    duplicates: int = 0
    passed_bad: int = 0  # bad lines passed through unchanged under skip_bad


@dataclass
class StreamRecord:
    """A record of the stream: its name (as a scan's document path), text (newlines as a scan
    makes them) and the JSON object itself, to rewrite when it holds duplicates (None for one
    nested deep: its line is parsed again then, as pickling it to the parent could overflow)."""

    path: str
    text: str
    record: dict | None


DEEP_BRACKETS = 200  # brackets in a line from which its record is not kept (StreamRecord.record)


def read_record(line: bytes, source: str, number: int, fields: RecordFields) -> StreamRecord | None:
    """The record of one JSONL line (None for a blank line), checked as ``parse_record`` checks
    it, without the digest and metadata a scan stores; raises ``RecordError``."""
    where = f"{source}:{number}"
    record = load_record(line, where)
    if record is None:
        return None
    if fields.date is not None:  # its date checked as a scan checks it
        record_document(record, source, number, fields, raw=line)
    text = record_text(record, where, fields)
    identifier = record.get(fields.id)
    kept = record if line.count(b"[") + line.count(b"{") < DEEP_BRACKETS else None
    return StreamRecord(where if identifier is None or identifier == "" else str(identifier), normalize_newlines(text), kept)


@dataclass
class ReadyBatch:
    """A batch of records ready to be looked up: what was read, and its paragraphs' keys."""

    lines: list[tuple[int, bytes]]  # (line number, the line as read)
    docs: list  # each line's StreamRecord, its RecordError (under skip_bad) or None (a blank line)
    counts: list[int]  # paragraphs of each line
    spans: np.ndarray  # int64 (paragraphs, 4): line_start, line_end, char_start, char_end in its record
    keys: EncodedKeys  # the paragraphs' keys, in order
    refs: list[str]  # where each paragraph is, as the JSON the index keeps
    signed: object = None  # the keys signed for the index (its ``batch_signer``), or None


def _parse_batch(batch: list[tuple[int, bytes]], source: str, fields: RecordFields, skip_bad: bool) -> list:
    """The record of every numbered line (None for a blank one), or its error under ``skip_bad``."""
    docs = []
    for number, line in batch:
        try:
            docs.append(read_record(line, source, number, fields))
        except RecordError as error:
            if not skip_bad:
                raise
            docs.append(error)
    return docs


def batch_keys(texts: list[str], spans: list[np.ndarray], normalizer) -> EncodedKeys:
    """The keys of the paragraphs ``spans`` of every text: on the compiled core one call for
    the whole batch (its texts joined, the spans moved along), else a normalizer call each."""
    joined = "".join(texts)
    starts = np.cumsum([0] + [len(t) for t in texts[:-1]], dtype=np.int64)
    moved = np.concatenate([s[:, 2:4] + at for s, at in zip(spans, starts.tolist())]) if texts else np.zeros((0, 2), np.int64)
    document_keys = getattr(normalizer, "document_keys", None)
    if document_keys is not None:
        data, ends, chars = document_keys(joined, moved[:, 0], moved[:, 1])
        return EncodedKeys(data, ends, chars)
    return EncodedKeys.of([normalizer(joined[a:b]) for a, b in moved.tolist()])


def _refs(docs: list, counts: list[int], spans: np.ndarray) -> list[str]:
    """Every paragraph's reference, ``{"document", "line_start", "line_end", "in": "stream"}``
    as ``json.dumps(ensure_ascii=False)`` writes it, the document's name encoded once."""
    names = [json.dumps(d.path, ensure_ascii=False) for d, n in zip(docs, counts) if n]
    per = [name for name, n in zip(names, (n for n in counts if n)) for _ in range(n)]
    return [f'{{"document": {name}, "line_start": {a}, "line_end": {b}, "in": "stream"}}' for name, (a, b) in zip(per, spans[:, :2].tolist())]


def ready_batches(lines: Iterable[bytes], batch: int, config: ScanConfig, normalizer, source: str, fields: RecordFields,
                  skip_bad: bool, signer: Callable | None = None) -> Iterator[ReadyBatch]:
    """The stream's lines, up to ``batch`` at a time, parsed, split into paragraphs and
    normalized (one call to the core for the batch's keys) and, with a ``signer``, signed;
    raises ``RecordError`` at the first bad line unless ``skip_bad`` (then the line's error
    stands for its record)."""
    numbered = enumerate(lines, start=1)
    split = paragraph_splitter(config.split)
    while read := list(itertools.islice(numbered, max(1, batch))):
        docs = _parse_batch(read, source, fields, skip_bad)
        texts = [d.text if d is not None and not isinstance(d, RecordError) else "" for d in docs]
        spans = [split(t) if t else np.zeros((0, 4), np.int64) for t in texts]
        counts = [len(s) for s in spans]
        flat = np.concatenate(spans).astype(np.int64, copy=False) if spans else np.zeros((0, 4), np.int64)
        keys = batch_keys(texts, spans, normalizer)
        yield ReadyBatch(read, docs, counts, flat, keys, _refs(docs, counts, flat), signer(keys) if signer else None)


def _reference_matches(ready: ReadyBatch, reference) -> list[Match | None]:
    """What every paragraph of a batch copies in the reference corpus (None: nothing)."""
    texts = [d.text if d is not None and not isinstance(d, RecordError) else "" for d in ready.docs]
    owner = np.repeat(np.arange(len(texts)), ready.counts)
    firsts = np.repeat(np.cumsum([0, *ready.counts[:-1]]), ready.counts) if ready.counts else np.zeros(0, np.int64)
    within = (np.arange(len(owner)) - firsts).tolist()  # each paragraph's place in its record
    flat = [Paragraph(i, a, b, c, d, texts[o][c:d]) for i, o, (a, b, c, d) in zip(within, owner.tolist(), ready.spans.tolist())]
    found: list[Match | None] = [None] * len(flat)
    for i, answer in enumerate(reference.match_keys(flat, ready.keys.texts(), within=False)):
        if answer.status == "copy":
            found[i] = Match({**answer.canonical, "in": "reference"}, answer.relation, answer.similarity, answer.containment)
    return found


def _batch_matches(ready: ReadyBatch, index: KeyIndex, reference, stream: bool) -> list[Match | None]:
    """What every paragraph of a batch copies (None: nothing), in order: the reference first,
    then the stream's index (which learns the paragraphs that copy nothing, when ``stream``)."""
    if reference is None:
        return index.match_encoded(ready.keys, ready.refs if stream else None, ready.signed)
    found = _reference_matches(ready, reference)
    rest = [i for i, m in enumerate(found) if m is None]
    in_stream = index.match_encoded(ready.keys.take(rest), [ready.refs[i] for i in rest] if stream else None)
    for i, m in zip(rest, in_stream):
        found[i] = m
    return found


def _rewritten(line: bytes, record: dict | None, found: list, fields: RecordFields, mark: bool) -> bytes:
    """The ``record`` of ``line`` (None: parsed from it) with its ``found`` (line_start,
    line_end, match) copies cut from the text field, or listed in ``MARK_FIELD``; its line
    ending kept."""
    record = json.loads(line) if record is None else record
    if mark:
        record[MARK_FIELD] = [
            {"line_start": a, "line_end": b, "relation": m.relation, "similarity": m.similarity, "containment": m.containment, "copies": m.ref}
            for a, b, m in found
        ]
    else:
        record[fields.text] = remove_lines(record[fields.text], [(a, b) for a, b, _ in found])
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
    batch: int | None = None,
    ahead: bool = False,
) -> FilterResult:
    """Filter JSONL ``lines`` into ``write`` (see the module docstring), ``batch`` records at a
    time (None: ``BATCH_RECORDS``); raises ``RecordError`` at the first bad line unless
    ``skip_bad``. With ``ahead``, a forked process reads, normalizes and signs the next batch
    while this one looks up the current (``workers.made_ahead``; the same output)."""
    normalizer = make_normalizer(config.steps)
    result = FilterResult()
    signer = index.batch_signer() if hasattr(index, "batch_signer") else None
    made = made_ahead(lambda: ready_batches(lines, batch or BATCH_RECORDS, config, normalizer, source, fields, skip_bad, signer), ahead)
    for ready in made:
        for error in (d for d in ready.docs if isinstance(d, RecordError)) if on_skip else ():
            on_skip(error)
        matches = iter(_batch_matches(ready, index, reference, stream))
        spans = iter(ready.spans[:, :2].tolist())
        for (_, line), doc, n in zip(ready.lines, ready.docs, ready.counts):
            if isinstance(doc, RecordError):
                result.passed_bad += 1
            elif doc is not None:
                result.records += 1
            found = [(a, b, m) for (a, b), m in zip(itertools.islice(spans, n), itertools.islice(matches, n)) if m is not None]
            result.paragraphs += n
            if not found:
                write(line)
                continue
            result.duplicates += len(found)
            result.rewritten += 1
            write(_rewritten(line, doc.record, found, fields, mark))
    return result
