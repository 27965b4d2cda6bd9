"""The local engine: a scan on this machine, every stage of DESIGN.md's data flow in order, timed,
written to one database (the worker pool reads, normalizes and signs; the main process does the rest).

read -> split -> normalize -> fingerprint   (streamed, one document at a time; rows go to the db)
sign -> candidates -> verify -> cluster     (over distinct keys only: exact copies are settled)
canonical -> store                          (clusters expanded to paragraphs; atomic commit)
"""

from __future__ import annotations

import collections
import contextlib
import functools
import itertools
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple, Union

import numpy as np
from tqdm import tqdm

from .. import compiled
from ..match.boilerplate import corpus_boilerplate
from ..match.canonical import MemberFacts, Standing, explain, paragraph_rank, reason
from ..match.cluster import cluster_keys, fragments
from ..match.joined import add_joined
from ..config import MIN_KEY_CHARS, ScanConfig
from ..sources.corpus import CorpusFileError, Document, Skipped, hash_file, relative_path
from ..atomic import tmp_dir
from ..errors import writing
from ..text.fingerprint import NO_FINGERPRINT, fingerprint_utf8
from ..store.keystore import KeyStore
from ..match.lsh import ANCHOR_GAP, ANCHOR_MOD, anchor_pairs, anchors, band_hashes, candidate_pairs, merge_pairs
from ..text.paragraphs import SPLIT_MODES, paragraph_spans
from ..sources.records import STDIN, LineBatch, is_jsonl_name, line_batches, parse_batch
from ..match.signatures import oph_signatures, shingle_hashes
from ..sources.dispatch import read_file
from ..store.writer import NEW_PARAGRAPH_COLUMNS, PARAGRAPH_VALUES, Writer, remove_stale
from ..sources.tabular import CsvBatch, ParquetBatch, is_parquet_name, is_table_name, preload_pyarrow, table_batches
from ..run import STAGES, Run, no_readable_documents
from ..timing import epoch
from ..match.verify import KeySets, MatchRule, ShingleSets
from ..workers import job_pool, pool, publish, published, scoring_pool, spans_by_cost
from ..match.passages import refresh_passages

SIGN_BATCH_CHARS = 500_000  # key characters per signing job: bounds its memory, balances the workers
DOCUMENT_ROWS_BATCH = 1000  # documents rows written at a time
IN_FLIGHT = 4  # jobs queued a worker: keeps both busy without reading far ahead of them


def progress(enabled: bool, **kwargs) -> tqdm:
    """A tqdm bar on stderr, or a silent one: callers never branch on quiet."""
    return tqdm(disable=not enabled, dynamic_ncols=True, leave=False, **kwargs)


@dataclass
class ScanResult:
    """What a finished scan reports: the database it wrote and the figures of the run."""

    db_path: Path
    counts: dict
    timings: dict
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class _Keys:
    """Distinct normalized keys and, per paragraph, which key it has (-1: empty key).

    Keys are told apart by fingerprint in a ``FingerprintIndex`` (the compiled core's: 24 bytes
    a key in one table, no Python object a key); their texts go to the key store."""

    store: KeyStore
    index: object = field(default_factory=compiled.fingerprint_index)
    key_len: array = field(default_factory=lambda: array("q"))
    para_key: array = field(default_factory=lambda: array("q"))
    para_doc: array = field(default_factory=lambda: array("q"))
    para_len: array = field(default_factory=lambda: array("q"))
    para_line: array = field(default_factory=lambda: array("q"))
    doc_date: array = field(default_factory=lambda: array("d"))  # seconds since the epoch; NaN: undated
    # what the workers signed, of the keys long enough to sign, in id order (``signatures``)
    set_sizes: array = field(default_factory=lambda: array("q"))
    bands: bytearray = field(default_factory=bytearray)
    anchor_owner: array = field(default_factory=lambda: array("i"))
    anchor_values: array = field(default_factory=lambda: array("I"))
    presigned: bool = True  # every batch came signed (else the scan signs the keys itself)

    def add_batch(self, prepared: "PreparedBatch", shortest: int) -> np.ndarray:
        """The key id of every paragraph of a prepared batch (-1: too short to have a
        fingerprint); keys seen for the first time are stored, numbered in order, with their
        signatures when the batch was signed (keys of ``shortest`` characters or more)."""
        ids, firsts = self.index.add_new(prepared.fingerprints)
        ids, firsts = np.frombuffer(ids, dtype=np.int64), np.frombuffer(firsts, dtype=np.int64)
        self.presigned &= prepared.signed is not None
        if not len(firsts):
            return ids
        keys, ends = prepared.keys, prepared.key_ends
        key_chars = np.frombuffer(prepared.spans, dtype=np.int64)[5::6]
        self.store.extend_utf8([keys[ends[i - 1] if i else 0 : ends[i]] for i in firsts.tolist()])
        self.key_len.frombytes(key_chars[firsts].tobytes())
        if self.presigned:
            signed = prepared.signed
            long = key_chars >= shortest
            at = (np.cumsum(long) - 1)[firsts[long[firsts]]]  # the new keys' places among the signed
            base = len(self.set_sizes)
            self.set_sizes.frombytes(np.ascontiguousarray(signed.set_sizes[at], dtype=np.int64).tobytes())
            self.bands.extend(np.ascontiguousarray(signed.bands[at], dtype=np.uint32).tobytes())
            if len(signed.anchor_keys):
                new = np.zeros(len(signed.set_sizes), dtype=bool)
                new[at] = True
                mine = new[signed.anchor_keys]
                owner = base + (np.cumsum(new) - 1)[signed.anchor_keys[mine]]
                self.anchor_owner.frombytes(owner.astype(np.int32).tobytes())
                self.anchor_values.frombytes(np.ascontiguousarray(signed.anchor_values[mine], dtype=np.uint32).tobytes())
        return ids

    def signatures(self, n_bands: int) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """(set sizes, band hashes (n, n_bands), (anchor owners, anchor values)) that the workers made."""
        sizes = np.frombuffer(self.set_sizes, dtype=np.int64) if len(self.set_sizes) else np.zeros(0, np.int64)
        # a view, not a copy (the buffer is complete: reading has ended); 111 MB for a 1 GB dump
        bands = np.frombuffer(self.bands, dtype=np.uint32).reshape(-1, n_bands) if self.bands else np.zeros((0, n_bands), np.uint32)
        owner = np.frombuffer(self.anchor_owner, dtype=np.int32) if len(self.anchor_owner) else np.zeros(0, np.int32)
        values = np.frombuffer(self.anchor_values, dtype=np.uint32) if len(self.anchor_values) else np.zeros(0, np.uint32)
        return sizes, bands, (owner, values)

    def release_signatures(self) -> None:
        """Drop what the workers signed, once it is written (the band hashes alone are 111 MB for
        a 1 GB dump, not needed to build the clusters)."""
        self.set_sizes, self.bands = array("q"), bytearray()
        self.anchor_owner, self.anchor_values = array("i"), array("I")

    @property
    def fps(self) -> list[bytes]:
        """The fingerprint of every key, in id order."""
        return list(self.iter_fps())

    def iter_fps(self) -> Iterator[bytes]:
        """The fingerprint of every key, in id order, one at a time (no list of a million bytes)."""
        data = self.index.fingerprints()
        return (data[i : i + 16] for i in range(0, len(data), 16))

    @property
    def count(self) -> np.ndarray:
        """How many paragraphs have each key."""
        return np.frombuffer(self.index.counts(), dtype=np.int64)


def _as_array(values: array) -> np.ndarray:
    """An int64 numpy view of an ``array('q')`` (which numpy cannot view when empty)."""
    return np.frombuffer(values, dtype=np.int64) if len(values) else np.zeros(0, np.int64)


def file_rows(files: list[Path], root: Path, known: dict[str, tuple[str, int]] | None = None) -> Iterator[tuple[str, str, int, int]]:
    """(relative path, SHA-1, size, mtime in ns) of every input file: what an update compares to
    find the files that changed. ``known`` gives the hashes the reading already computed (a
    text or HTML file is one document with the file's hash); only JSONL and WARC files, which
    hold many documents with a hash each, are read again for theirs."""
    known = known or {}
    for path in files:
        rel = relative_path(path, root)
        try:
            mtime = path.stat().st_mtime_ns
            sha1, size = known[rel] if rel in known else hash_file(path)
        except OSError:
            continue  # unreadable: it was skipped, and will be tried again by the next scan
        yield rel, sha1, size, mtime


def file_size(path: Path) -> int:
    """Bytes on disk; 0 for a file that vanished or cannot be looked at since it was listed (the
    reading reports it)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def scan_full(files: list[Path], root: Path, resolved_root: str, config: ScanConfig, db_path: str | Path, run: Run,
              show_progress: bool, items: Iterable | None = None) -> dict:
    """Read ``files`` of the corpus at ``root`` and write a new database at ``db_path`` with
    every stage of ``run`` (the database replaced only at the commit); return the run's counts.

    ``items`` are the files' prepared batches and errors in corpus order when someone else
    read them (``prepared_items``'s output, as the Spark engine's executors make it); by
    default this machine's workers read them."""
    with writing(db_path, "the new database", ELSEWHERE), writer_and_key_store(lambda: Writer(db_path)) as (writer, store):
        total_bytes = sum(file_size(f) for f in files if str(f) != STDIN)
        # what the bar counts is decoded bytes: unknown ahead for gzip, stdin and Parquet
        bar_total = None if any(str(f) == STDIN or f.name.lower().endswith(".gz") or is_parquet_name(f.name) for f in files) else total_bytes
        items = prepared_items(files, root, config, batches=True) if items is None else items
        with LocalStages(config, items, root, store, writer, run, show_progress, bar_total) as stages:
            counts = run.execute(stages)
        if str(root) != STDIN:
            writer.insert("files", file_rows(files, root, stages.file_hashes))
        counts.update(files=len(files), skipped=len(run.skipped), bytes=total_bytes)
        writer.commit(run.row(1, resolved_root, config, counts))
    return counts


ELSEWHERE = "point --db elsewhere"  # the fix a full disk under the database is given, besides freeing space


@contextlib.contextmanager
def writer_and_key_store(open_writer: Callable[[], Writer]) -> Iterator[tuple[Writer, KeyStore]]:
    """The writer ``open_writer`` gives and its key store, for one run: on any failure the writer
    is aborted (the database left as it was before the run); the key store is removed at the end."""
    writer = open_writer()
    try:
        store = key_store(writer)
    except BaseException:
        writer.abort()
        raise
    try:
        yield writer, store
    except BaseException:
        writer.abort()
        raise
    finally:
        store.close()


def key_store(writer: Writer) -> KeyStore:
    """The key store of a scan or an update writing through ``writer``: a scratch file in
    ``--tmp-dir``, by default beside the database. It is named like the writer's temporary
    database, so a run killed outright leaves no file that the next run on the same target
    does not remove (from either folder)."""
    prefix = f".dedup-{writer.target.name}-keys-"
    folder = tmp_dir(writer.target.parent)
    if folder != writer.target.parent:
        remove_stale(folder, f"{prefix}*.tmp")
    return KeyStore(folder, prefix=prefix)


@dataclass(frozen=True)
class PreparedDocument:
    """One document read, split and normalized: what a worker sends back to the main process.

    Its shape is chosen for the trip between processes, which cost as much as normalizing when
    every paragraph and key travelled as a string of its own: the text travels once (each
    paragraph is a slice of it), the numbers as one array, and the keys as one UTF-8 buffer
    that the main process writes to the key store without decoding it.
    """

    doc: Document  # its text is the document's whole text
    spans: array  # per paragraph: idx, line_start, line_end, char_start, char_end, key_len (chars)
    keys: bytes  # the keys' UTF-8 bytes, one after another
    key_ends: array  # where each key's bytes end in ``keys``
    fingerprints: bytes  # 16 bytes a paragraph, NO_FINGERPRINT for a key under MIN_KEY_CHARS

    NO_FINGERPRINT = NO_FINGERPRINT

    def __len__(self) -> int:
        return len(self.key_ends)

    def rows(self) -> Iterator[tuple[int, int, int, int, int, int, str, bytes | None, bytes]]:
        """Per paragraph: idx, line_start, line_end, char_start, char_end, key_len, text,
        fingerprint (None: too short to match) and the key's UTF-8 bytes."""
        spans, keys, ends, fps, text = self.spans, self.keys, self.key_ends, self.fingerprints, self.doc.text
        start = 0
        for i in range(len(ends)):
            idx, line_start, line_end, char_start, char_end, key_len = spans[6 * i : 6 * i + 6]
            fp = fps[16 * i : 16 * i + 16]
            yield (idx, line_start, line_end, char_start, char_end, key_len, text[char_start:char_end],
                   None if fp == self.NO_FINGERPRINT else fp, keys[start : ends[i]])
            start = ends[i]


@dataclass(frozen=True)
class PreparedBatch:
    """Consecutive prepared documents as one: what a worker of the scan sends back for a job.

    The main process handles a batch with one set of array operations instead of a set a
    document (~150 us of numpy calls a document, more than the rest of its work on it). The
    texts travel joined; ``docs`` hold the documents' other fields, their texts left empty.
    Arrays are those of ``PreparedDocument``, one after another: ``key_ends`` run on through
    the batch, ``signed`` covers the batch's signed paragraphs in order.
    """

    docs: tuple[Document, ...]
    text: str
    text_starts: array  # where each document's text starts in ``text``
    counts: array  # paragraphs of each document
    spans: array
    keys: bytes
    key_ends: array
    fingerprints: bytes
    signed: "SignedBatch | None"


def merge_prepared(items: list[PreparedDocument], signer: Callable | None) -> PreparedBatch:
    """One ``PreparedBatch`` of consecutive prepared documents, its keys signed by ``signer``
    (``document_signer``; None: left to the scan's own signing pass)."""
    import dataclasses

    text_starts, key_ends, counts, spans = array("q"), array("q"), array("q"), array("q")
    start = key_base = 0
    for item in items:
        text_starts.append(start)
        start += len(item.doc.text)
        counts.append(len(item))
        key_ends.frombytes((np.frombuffer(item.key_ends, dtype=np.int64) + key_base).tobytes() if len(item.key_ends) else b"")
        key_base += len(item.keys)
        spans.extend(item.spans)
    keys = b"".join(item.keys for item in items)
    signed = None
    if signer is not None:
        key_chars = np.frombuffer(spans, dtype=np.int64)[5::6] if len(spans) else np.zeros(0, np.int64)
        signed = signer(keys, np.frombuffer(key_ends, dtype=np.int64) if len(key_ends) else np.zeros(0, np.int64), key_chars)
    return PreparedBatch(
        tuple(dataclasses.replace(item.doc, text="") for item in items), "".join(item.doc.text for item in items),
        text_starts, counts, spans, keys, key_ends, b"".join(item.fingerprints for item in items), signed,
    )


def _batched(items: list, signer: Callable | None) -> list:
    """Consecutive prepared documents merged into batches; errors stay where they are."""
    out, run = [], []
    for item in items:
        if isinstance(item, PreparedDocument):
            run.append(item)
            continue
        if run:
            out.append(merge_prepared(run, signer))
            run = []
        out.append(item)
    if run:
        out.append(merge_prepared(run, signer))
    return out


def prepare_document(doc: Document, split: str, normalizer: Callable[[str], str]) -> PreparedDocument:
    """Split, normalize and fingerprint one document: on the compiled core, one call that does
    all three without the interpreter lock (``normalizer.prepare_text``), or one for the keys of
    all its paragraphs (``normalizer.document_keys``); else one normalizer call a paragraph."""
    text = doc.text
    prepare_text = getattr(normalizer, "prepare_text", None)
    if prepare_text is not None and split in SPLIT_MODES:
        spans, keys, key_ends, fps = prepare_text(text, SPLIT_MODES[split], MIN_KEY_CHARS)
        return PreparedDocument(doc, array("q", spans), keys, array("q", key_ends), fps)
    para = paragraph_spans(text, split)
    n = len(para)
    document_keys = getattr(normalizer, "document_keys", None)
    if document_keys is not None:
        keys, key_ends, key_chars = document_keys(text, para[:, 2], para[:, 3])
    else:
        encoded = [normalizer(text[a:b]) for a, b in para[:, 2:4].tolist()]
        key_chars = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
        encoded = [key.encode("utf-8") for key in encoded]
        keys = b"".join(encoded)
        key_ends = np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=n))
    starts = [0, *key_ends[:-1].tolist()] if n else []
    no_fp, fp = PreparedDocument.NO_FINGERPRINT, fingerprint_utf8
    fps = b"".join(
        fp(keys[a:b]) if chars >= MIN_KEY_CHARS else no_fp for a, b, chars in zip(starts, key_ends.tolist(), key_chars.tolist())
    )
    spans = np.column_stack([np.arange(n, dtype=np.int64), para, key_chars]) if n else np.zeros((0, 6), np.int64)
    return PreparedDocument(doc, array("q", spans.astype(np.int64).tobytes()), keys, array("q", key_ends.astype(np.int64).tobytes()), fps)


def document_signer(config: ScanConfig) -> Callable | None:
    """``(keys, key_ends, key_chars) -> SignedBatch`` of the keys of a batch that a scan
    signs (at least ``min_chars`` characters), on the compiled core; None without it. Signing
    where the keys are made saves the scan a pass over the key store and a pool of its own
    (duplicates are signed again: they cost less than the trip)."""
    if not compiled.available():
        return None
    b, r = config.lsh_bands()
    shortest = max(config.min_chars, MIN_KEY_CHARS)

    def sign(keys: bytes, key_ends: np.ndarray, key_chars: np.ndarray) -> SignedBatch:
        offsets = np.zeros(len(key_ends) + 1, dtype=np.int64)
        offsets[1:] = key_ends
        return sign_utf8(keys, offsets, np.nonzero(key_chars >= shortest)[0].astype(np.int64), config, b, r)

    return sign


@dataclass(frozen=True)
class FileGroup:
    """Consecutive small files read by one worker as one job: a job costs the main process
    ~0.4 ms whatever its size (the pool's pickling and hand-offs), more than reading a 16 KB page."""

    paths: tuple[Path, ...]


Job = Union[Path, LineBatch, FileGroup, ParquetBatch, CsvBatch]
"""What a worker is given: a file to read (text, HTML, WARC), a group of them, a batch of JSONL
lines, or a batch of rows of a Parquet or CSV file."""

GROUP_BYTES = 512 * 1024  # files grouped into one job up to about this size
GROUP_FILES = 64


def prepare_job(job: Job, root: Path, config: ScanConfig, batches: bool = False) -> list:
    """The prepared documents of one job, in order (runs in a worker process); with
    ``batches``, consecutive documents merged into ``PreparedBatch``es.

    A file or record that cannot be read is returned as its error, not raised, so the caller
    decides in corpus order whether it stops the scan or is skipped.
    """
    items = _prepare_job(job, root, config)
    return _batched(items, document_signer(config)) if batches else items


def _prepare_job(job: Job, root: Path, config: ScanConfig) -> list[PreparedDocument | CorpusFileError]:
    normalizer = compiled.make_normalizer(config.steps)
    if isinstance(job, FileGroup):
        return [item for path in job.paths for item in _prepare_file(path, root, config, normalizer)]
    if isinstance(job, (LineBatch, ParquetBatch, CsvBatch)):
        try:
            docs = parse_batch(job, config.record_fields) if isinstance(job, LineBatch) else job.documents(config.record_fields)
        except CorpusFileError as error:
            return [error]
        return [prepare_document(d, config.split, normalizer) if isinstance(d, Document) else d for d in docs]
    return _prepare_file(job, root, config, normalizer)


def _prepare_file(path: Path, root: Path, config: ScanConfig, normalizer) -> list[PreparedDocument | CorpusFileError]:
    try:
        docs = list(read_file(path, root))
    except CorpusFileError as error:
        return [error]
    return [prepare_document(d, config.split, normalizer) if isinstance(d, Document) else d for d in docs]


def corpus_jobs(files: list[Path], root: Path, config: ScanConfig) -> Iterator[Job | CorpusFileError]:
    """The jobs of the corpus in order: a JSONL file (or stdin) is cut into line batches here,
    in the main process, so it streams, and a Parquet or CSV file into batches of rows; other
    files go in groups of consecutive small ones."""
    group: list[Path] = []
    size = 0
    for path in files:
        if _is_stream(path):
            if group:
                yield FileGroup(tuple(group))
                group, size = [], 0
            source = STDIN if str(path) == STDIN else relative_path(path, root)
            try:
                if is_table_name(path.name):
                    yield from table_batches(path, source, config.record_fields)
                else:
                    yield from line_batches(path, source)
            except CorpusFileError as error:
                yield error
            continue
        group.append(path)
        size += file_size(path)
        if size >= GROUP_BYTES or len(group) >= GROUP_FILES:
            yield FileGroup(tuple(group))
            group, size = [], 0
    if group:
        yield FileGroup(tuple(group))


def prepared_items(files: list[Path], root: Path, config: ScanConfig, batches: bool = False) -> Iterator:
    """``prepare_job`` over every job, results in corpus order, on ``config.workers`` threads
    on the compiled core, else processes (``PreparedDocument``s, or ``PreparedBatch``es with
    ``batches``, and errors).

    At most ``IN_FLIGHT`` jobs a worker are queued at once, so reading a large JSONL stream
    never runs ahead of the workers (``Pool.imap`` would queue every batch of it in memory).
    """
    job = functools.partial(prepare_job, root=root, config=config, batches=batches)
    if any(is_parquet_name(f.name) for f in files):
        preload_pyarrow()  # before the workers fork: they share its pages instead of a copy each
    n_workers = config.effective_workers if len(files) > 1 or _streams(files) else 1
    threads = compiled.available()
    if threads:
        compiled.prepare()  # the core's tables, built once before the threads use them
    with job_pool(n_workers, max(len(files), n_workers if _streams(files) else 1), threads) as workers:
        if workers is None:
            for item in corpus_jobs(files, root, config):
                yield from [item] if isinstance(item, CorpusFileError) else job(item)
            return
        pending: collections.deque = collections.deque()
        for item in corpus_jobs(files, root, config):
            pending.append([item] if isinstance(item, CorpusFileError) else workers.apply_async(job, (item,)))
            if len(pending) >= IN_FLIGHT * n_workers:
                first = pending.popleft()
                yield from first if isinstance(first, list) else first.get()
        while pending:
            first = pending.popleft()
            yield from first if isinstance(first, list) else first.get()


def _is_stream(path: Path) -> bool:
    """Is this a JSONL source or a table, which the main process cuts into batches for the workers?"""
    return str(path) == STDIN or is_jsonl_name(path.name) or is_table_name(path.name)


def _streams(files: list[Path]) -> bool:
    """Does the corpus hold a JSONL source or a table, which becomes many jobs however few files there are?"""
    return any(map(_is_stream, files))


def document_row(doc_id: int, doc: Document, rows: list[tuple]) -> tuple:
    """The documents row of a prepared document whose paragraph ``rows`` are given."""
    return document_row_of(doc_id, doc, len(rows), sum(len(r[6]) for r in rows))


def document_row_of(doc_id: int, doc: Document, n_paragraphs: int, n_chars: int) -> tuple:
    """The documents row of a document of ``n_paragraphs`` paragraphs, ``n_chars`` characters in all."""
    return (doc_id, doc.path, doc.encoding, doc.size, doc.sha1, n_paragraphs, n_chars, doc.source or doc.path, doc.record, doc.date, doc.meta)


def _batch_arrays(item: "PreparedBatch", first_doc: int, doc_rows: list[tuple]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A prepared batch's paragraph spans (n, 6), the document id of each paragraph, and their
    texts (slices of the batch's text); its documents rows appended to ``doc_rows``."""
    counts = np.frombuffer(item.counts, dtype=np.int64)
    spans = np.frombuffer(item.spans, dtype=np.int64).reshape(-1, 6) if len(item.spans) else np.zeros((0, 6), np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    lengths = spans[:, 4] - spans[:, 3]
    n_chars = np.bincount(owner, weights=lengths, minlength=len(counts)).astype(np.int64).tolist()
    doc_rows.extend(document_row_of(first_doc + i, doc, count, n_chars[i]) for i, (doc, count) in enumerate(zip(item.docs, counts.tolist())))
    base = np.frombuffer(item.text_starts, dtype=np.int64)[owner] if len(spans) else np.zeros(0, np.int64)
    text = item.text
    texts = [text[a:b] for a, b in zip((spans[:, 3] + base).tolist(), (spans[:, 4] + base).tolist())]
    return spans, owner + first_doc, texts


def read_prepared(items: Iterable, root, config, store, writer, run: Run, show_progress, total_bytes) -> tuple[_Keys, list[str], dict]:
    """The read stage's bookkeeping over ``items`` (prepared batches and errors, in corpus order,
    as ``prepared_items`` gives them): paragraph rows go straight to ``writer``, keys to the key store.
    Also returns the (SHA-1, size) of every file that is one document (text, HTML); ``root``
    names the corpus in the error for one without a readable document."""
    keys = _Keys(store)
    paths: list[str] = []
    file_hashes: dict[str, tuple[str, int]] = {}
    bar = progress(show_progress, total=total_bytes, desc="read", unit="B", unit_scale=True)

    doc_rows: list[tuple] = []  # written a batch at a time: one row at a time cost 0.4 ms a row

    def rows() -> Iterator[tuple]:
        pid = 0
        shortest = max(config.min_chars, MIN_KEY_CHARS)
        no_fp, none = PreparedDocument.NO_FINGERPRINT, bytearray()
        for item in items:
            if isinstance(item, CorpusFileError):
                run.skip_or_raise(item)
                continue
            first_doc = len(paths) + 1
            for doc in item.docs:
                paths.append(doc.path)
                if doc.record is None:
                    file_hashes[doc.source or doc.path] = (doc.sha1, doc.size)
                keys.doc_date.append(epoch(doc.date))
            spans, para_doc, texts = _batch_arrays(item, first_doc, doc_rows)
            n = len(spans)
            if len(doc_rows) >= DOCUMENT_ROWS_BATCH:
                writer.insert("documents", doc_rows)
                doc_rows.clear()
            ids = keys.add_batch(item, shortest)
            keys.para_key.frombytes(ids.tobytes())
            keys.para_doc.frombytes(para_doc.astype(np.int64).tobytes())
            keys.para_len.frombytes((spans[:, 4] - spans[:, 3]).tobytes())
            keys.para_line.frombytes(spans[:, 1].tobytes())
            fps = bytearray(item.fingerprints)  # slices of it are bytearrays (see PARAGRAPH_VALUES)
            fp_list = [none if (fp := fps[i : i + 16]) == no_fp else fp for i in range(0, 16 * n, 16)]
            key_ids = (ids + 1).tolist()  # 0: none
            yield from zip(range(pid + 1, pid + n + 1), para_doc.tolist(), spans[:, 0].tolist(), spans[:, 1].tolist(), spans[:, 2].tolist(),
                           spans[:, 3].tolist(), spans[:, 4].tolist(), texts, spans[:, 5].tolist(), fp_list, key_ids)
            pid += n
            bar.update(sum(doc.size for doc in item.docs))
            if not bar.disable:  # MB/s and the ETA come from the bar itself
                bar.set_postfix_str(f"{pid / max(bar.format_dict['elapsed'], 1e-9):,.0f} paragraphs/s", refresh=False)

    try:
        with bar:
            writer.insert("paragraphs", rows(), NEW_PARAGRAPH_COLUMNS, PARAGRAPH_VALUES)
    finally:  # a generator of prepared items holds the worker pool: end it now, even on an error
        close = getattr(items, "close", None)
        if close is not None:
            close()
    writer.insert("documents", doc_rows)
    if not paths:
        raise no_readable_documents(root)
    return keys, paths, file_hashes


@dataclass(frozen=True)
class SignedBatch:
    """What signing a batch of keys gives: set sizes, band hashes and anchors (the sets
    themselves are computed again at verification, for the keys that need them)."""

    set_sizes: np.ndarray
    bands: np.ndarray
    anchor_keys: np.ndarray  # batch-local key index of each anchor
    anchor_values: np.ndarray


def sign_batch(texts: list[str], config: ScanConfig, b: int, r: int) -> SignedBatch:
    """Shingle, sign and band one batch of keys (runs in a worker process)."""
    dense_k, other_k = config.shingle_sizes()
    h, off = shingle_hashes(texts, other_k, config.seed, dense_k=dense_k)
    sets = ShingleSets.from_shingles(h, off)
    sig = oph_signatures(h, off, config.num_perm, config.seed)
    owner, values = anchors(h, off) if config.containment > 0 else (np.zeros(0, np.int32), np.zeros(0, np.uint32))
    # 32-bit band hashes are plenty for bucketing: a chance collision only proposes a pair that
    # verification drops
    return SignedBatch(sets.sizes, band_hashes(sig, b, r).astype(np.uint32), owner, values)


def sign_utf8(data, offsets, ids: np.ndarray | None, config: ScanConfig, b: int, r: int) -> SignedBatch:
    """``sign_batch`` on the compiled core, of the keys ``ids`` of a UTF-8 buffer (see KeyStore.read_view)."""
    dense_k, other_k = config.shingle_sizes()
    sizes, bands, owner, values = compiled.sign(
        data, offsets, ids, other_k, dense_k, config.seed, config.num_perm, b, r,
        ANCHOR_MOD if config.containment > 0 else 0, ANCHOR_GAP,
    )
    return SignedBatch(sizes, bands, owner, values)


def _sign_job(ids: np.ndarray, config: ScanConfig, b: int, r: int) -> SignedBatch:
    store = published()
    if compiled.available():
        return sign_utf8(*store.read_view(ids), config, b, r)
    return sign_batch(store.get(ids.tolist()), config, b, r)


def sign_keys(store: KeyStore, ids: np.ndarray, key_len: np.ndarray, config: ScanConfig, b: int, r: int, show_progress: bool):
    """Set sizes, LSH band hashes and anchors of the keys ``ids``, batch by batch, on the workers.

    Workers read their batch of keys from the store themselves (forked, they share its file).
    Batches come back in order, so the result never depends on the number of workers.
    """
    sizes, bands, anchor_keys, anchor_values = [], [], [], []
    batches = [ids[s:e] for s, e in spans_by_cost(key_len[ids], SIGN_BATCH_CHARS)]
    job = functools.partial(_sign_job, config=config, b=b, r=r)
    publish(store)
    start = 0
    with progress(show_progress, total=len(ids), desc="sign", unit="key") as bar, pool(
        config.effective_workers, len(batches), fork_only=True
    ) as workers:
        for batch, signed in zip(batches, workers.imap(job, batches) if workers else map(job, batches)):
            sizes.append(signed.set_sizes)
            bands.append(signed.bands)
            anchor_keys.append(signed.anchor_keys + start)
            anchor_values.append(signed.anchor_values)
            start += len(batch)
            bar.update(len(batch))
    publish(None)
    empty = lambda dtype: np.zeros(0, dtype=dtype)  # noqa: E731
    return (
        np.concatenate(sizes) if sizes else empty(np.int64),
        np.concatenate(bands) if bands else np.zeros((0, b), dtype=np.uint32),
        (np.concatenate(anchor_keys) if anchor_keys else empty(np.int32), np.concatenate(anchor_values) if anchor_values else empty(np.uint32)),
    )


CHECKED_ROWS_BATCH = 100_000  # checked rows turned into Python numbers at a time


def _verify(sets, pairs: np.ndarray, rule: MatchRule, key_ids: np.ndarray, writer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Verify the candidate pairs: (edges, their Jaccard, the containment of every pair); every
    scored pair is stored (table ``checked``, by keys.id, as a candidate of this run) so that an
    update scores only pairs it has never seen."""
    if len(pairs) == 0:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0), np.zeros(0)
    jac, con = sets.score(pairs[:, 0], pairs[:, 1])
    ida, idb = key_ids[pairs[:, 0]], key_ids[pairs[:, 1]]
    lo, hi = np.minimum(ida, idb), np.maximum(ida, idb)
    for s in range(0, len(lo), CHECKED_ROWS_BATCH):  # Python numbers for a batch at a time, not for every pair
        e = s + CHECKED_ROWS_BATCH
        writer.insert("checked", zip(lo[s:e].tolist(), hi[s:e].tolist(), jac[s:e].tolist(), con[s:e].tolist(), itertools.repeat(1)))
    ok = rule.judge(jac, con, sets.sizes[pairs[:, 0]], sets.sizes[pairs[:, 1]])
    return pairs[ok], jac[ok], con


def signed_position(n_keys: int, signed: np.ndarray) -> np.ndarray:
    """Per key index, plus one last entry -1 (so that a paragraph's key -1 maps to it): its
    position among the signed keys, -1 for a key never signed."""
    position = np.full(n_keys + 1, -1, dtype=np.int64)
    position[signed] = np.arange(len(signed))
    return position


def key_rows(key_ids, fps, key_len, set_sizes, bands, anchor_owner, anchor_values, signed_pos) -> Iterator[tuple]:
    """``keys`` rows: id, fingerprint, length and, for a signed key (``signed_pos[i] >= 0``), its
    set size, band hashes and anchors as uint32 bytes."""
    starts = (np.searchsorted(anchor_owner, np.arange(len(set_sizes) + 1)) * 4).tolist() if len(set_sizes) else [0]
    # slices of two byte views, not a numpy call a key (~8 us a key: 10 s for a 1 GB dump), and
    # views rather than copies (the bands alone are 111 MB for a 1 GB dump)
    band_bytes, row = _byte_view(bands), 4 * (bands.shape[1] if bands.ndim == 2 else 0)
    anchor_bytes = _byte_view(anchor_values)
    sizes = np.asarray(set_sizes).tolist()
    for kid, fp, n, pos in zip(key_ids, fps, np.asarray(key_len).tolist(), signed_pos):
        if pos >= 0:
            yield (int(kid), fp, n, sizes[pos], band_bytes[pos * row : (pos + 1) * row], anchor_bytes[starts[pos] : starts[pos + 1]])
        else:
            yield (int(kid), fp, n, None, None, None)


def _byte_view(values: np.ndarray) -> memoryview:
    """The bytes of a uint32 array, little-endian as the keys table stores them, without a copy
    when they already are (sqlite3 stores a memoryview as a blob)."""
    data = np.ascontiguousarray(values, dtype="<u4")
    return memoryview(data).cast("B") if data.size else memoryview(b"")


def _store_keys(keys: _Keys, signed, set_sizes, bands, anchor_owner, anchor_values, writer) -> None:
    """Write every key with its signature, for the next update (its text is its paragraphs'
    normalized: ``lookup.stored_key_texts`` makes it again)."""
    n = len(keys.key_len)
    position = np.full(n, -1, dtype=np.int64)
    position[signed] = np.arange(len(signed))
    writer.insert("keys", key_rows(range(1, n + 1), keys.iter_fps(), _as_array(keys.key_len), set_sizes, bands, anchor_owner, anchor_values, position.tolist()))


@dataclass(frozen=True)
class Paragraphs:
    """Every paragraph of the corpus in corpus order, as arrays, and the documents they are in."""

    key: np.ndarray  # index of its key (-1: an empty key)
    doc: np.ndarray  # 1-based position of its document in ``paths``
    length: np.ndarray  # characters
    line: np.ndarray  # first line
    ids: np.ndarray  # paragraphs.id
    paths: list[str]  # document paths in corpus order
    doc_date: np.ndarray  # seconds since the epoch per document; NaN: undated

    def key_len(self, key_len: np.ndarray) -> np.ndarray:
        """The normalized length of every paragraph (0 for an empty key)."""
        return np.where(self.key >= 0, key_len[np.maximum(self.key, 0)] if len(key_len) else 0, 0)


def key_ranks(policy: str, paras: Paragraphs, key_len: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rank of every paragraph, rank of every key = that of its best paragraph, the position
    of that best paragraph) under the canonical policy."""
    n_keys = len(key_len)
    para_rank = paragraph_rank(policy, paras.key_len(key_len), paras.doc_date[paras.doc - 1] if len(paras.doc) else np.zeros(0))
    has_key = np.nonzero(paras.key >= 0)[0]
    key_rank = np.full(n_keys, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(key_rank, paras.key[has_key], para_rank[has_key])
    best = para_rank[has_key] == key_rank[paras.key[has_key]]
    best_para = np.full(n_keys, -1, dtype=np.int64)
    best_para[paras.key[has_key][best]] = has_key[best]
    return para_rank, key_rank, best_para


def find_candidates(config: ScanConfig, bands: np.ndarray, anchor_owner: np.ndarray, anchor_values: np.ndarray, show_progress: bool) -> tuple[np.ndarray, int]:
    """Candidate pairs of signed keys (band buckets, and shared anchors when containment is on),
    and how many the bands alone gave."""
    pairs = band_candidates(bands, show_progress)
    return with_anchor_candidates(config, pairs, anchor_owner, anchor_values, len(bands)), len(pairs)


def band_candidates(bands: np.ndarray, show_progress: bool) -> np.ndarray:
    """The candidate pairs of signed keys that share a band bucket."""
    with progress(show_progress, total=bands.shape[1], desc="candidates", unit="band") as bar:
        return candidate_pairs(bands, on_band=lambda: bar.update(1))


def with_anchor_candidates(config: ScanConfig, pairs: np.ndarray, anchor_owner: np.ndarray, anchor_values: np.ndarray, n_keys: int) -> np.ndarray:
    """``pairs`` and the pairs of the ``n_keys`` signed keys that share enough anchors, when
    containment is on."""
    if config.containment > 0:
        return merge_pairs(pairs, anchor_pairs(anchor_owner, anchor_values), n=n_keys)
    return pairs


@dataclass(frozen=True)
class Assignment:
    """Per key: the key index of its cluster's canonical (-1: in no cluster), its Jaccard and
    containment to it, and whether it is a fragment."""

    canonical: np.ndarray
    similarity: np.ndarray
    containment: np.ndarray
    fragment: np.ndarray


def assign_keys(config: ScanConfig, n_keys: int, signed: np.ndarray, edges: np.ndarray, edge_jaccard: np.ndarray, sizes: np.ndarray,
                key_rank: np.ndarray, count: np.ndarray, match) -> Assignment:
    """Clusters of keys: ``edges`` (positions in ``signed``) clustered without drift, each
    member matched to its canonical by ``match(a, b)``; keys that only repeat exactly
    (``count`` >= 2) are clusters of their own."""
    fragment = fragments(len(signed), edges, edge_jaccard, sizes, config.threshold)
    # a fragment ranks after every whole paragraph: it is never canonical over its whole
    cluster_rank = key_rank[signed] + fragment * (int(key_rank.max(initial=0)) + 1)
    kc = cluster_keys(len(signed), edges, edge_jaccard, cluster_rank, match, config.threshold)
    key_fragment = np.zeros(n_keys, dtype=bool)
    key_fragment[signed] = fragment
    key_canon = np.full(n_keys, -1, dtype=np.int64)
    key_sim, key_con = np.ones(n_keys), np.ones(n_keys)
    in_cluster = kc.canonical >= 0
    key_canon[signed[in_cluster]] = signed[kc.canonical[in_cluster]]
    key_sim[signed[in_cluster]] = kc.similarity[in_cluster]
    key_con[signed[in_cluster]] = kc.containment[in_cluster]
    exact_only = (key_canon < 0) & (count >= 2)
    key_canon[exact_only] = np.nonzero(exact_only)[0]
    return Assignment(key_canon, key_sim, key_con, key_fragment)


def _cluster(config: ScanConfig, rule: MatchRule, sets, paras: Paragraphs, signed: np.ndarray, pairs: np.ndarray, pair_con: np.ndarray,
             edges: np.ndarray, edge_jaccard: np.ndarray, key_rank: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, Assignment]:
    """(every edge, the assignment): the halves of broken lines judged together against their
    candidates (match/joined.py), then the keys clustered on all the edges."""
    n_keys = len(key_rank)
    edges, edge_jaccard, match, _ = add_joined(
        rule, sets.score, sets.sizes, signed_position(n_keys, signed)[paras.key], paras.doc, pairs, pair_con,
        edges, edge_jaccard, lambda a, c: rule.apply(sets, a, c),
    )
    return edges, assign_keys(config, n_keys, signed, edges, edge_jaccard, sets.sizes, key_rank, count, match)


class LocalStages:
    """The local engine's way of running each stage of ``run.STAGES`` (``Run.execute`` calls
    them in order) over prepared ``items``: the workers read, normalize and sign; this process
    keeps the keys as arrays, finds candidates, and writes through ``writer`` (a store.Writer,
    or memory.MemorySink, which ``passages_of`` then asks for its passages). Each stage leaves
    on the object what the next one takes; the worker pool that verification and clustering
    share is closed by ``close`` (the ``with`` block), whatever happened."""

    steps = STAGES

    def __init__(self, config: ScanConfig, items: Iterable, root, store: KeyStore, writer, run: Run, show_progress: bool,
                 total_bytes: int | None, passages_of: Callable = refresh_passages) -> None:
        self.config, self.items, self.root, self.key_file, self.writer = config, items, root, store, writer
        self.run, self.show_progress, self.total_bytes, self.passages_of = run, show_progress, total_bytes, passages_of
        self.bands_rows = config.lsh_bands()
        self._open = contextlib.ExitStack()

    def __enter__(self) -> "LocalStages":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._open.close()

    def read(self) -> None:
        """Paragraph rows straight to the database, keys (and the workers' signatures) kept."""
        self.keys, paths, self.file_hashes = read_prepared(
            self.items, self.root, self.config, self.key_file, self.writer, self.run, self.show_progress, self.total_bytes
        )
        keys = self.keys
        self.paras = Paragraphs(
            _as_array(keys.para_key), _as_array(keys.para_doc), _as_array(keys.para_len), _as_array(keys.para_line),
            np.arange(1, len(keys.para_key) + 1), paths, np.frombuffer(keys.doc_date, dtype=np.float64) if len(keys.doc_date) else np.zeros(0),
        )
        self.key_len = _as_array(keys.key_len)
        self.para_rank, self.key_rank, self.best_para = key_ranks(self.config.canonical, self.paras, self.key_len)
        self.signed = np.nonzero(self.key_len >= max(self.config.min_chars, MIN_KEY_CHARS))[0]

    def sign(self) -> None:
        """The keys' set sizes, band hashes and anchors (the workers' when every batch came signed), and the keys rows."""
        keys, (b, r) = self.keys, self.bands_rows
        keys.store.get([])  # map the key file now: every worker forked from here inherits the map
        if keys.presigned:
            self.set_sizes, self.bands, (self.anchor_owner, self.anchor_values) = keys.signatures(b)
        else:
            self.set_sizes, self.bands, (self.anchor_owner, self.anchor_values) = sign_keys(
                keys.store, self.signed, self.key_len, self.config, b, r, self.show_progress
            )
        self.sets = KeySets(keys.store, self.signed, self.set_sizes, self.config)
        # the keys rows now, for the next update: then the band hashes and anchors can go as
        # soon as they have found the candidates (together 224 MB of a 1 GB dump)
        _store_keys(self.keys, self.signed, self.set_sizes, self.bands, self.anchor_owner, self.anchor_values, self.writer)

    def candidates(self) -> None:
        """Pairs by band buckets, then by shared anchors; each signature freed once used."""
        n_keys = len(self.bands)
        lsh = band_candidates(self.bands, self.show_progress)
        del self.bands
        self.keys.release_signatures()  # what still holds the set sizes and anchors keeps them
        self.pairs, self.n_lsh = with_anchor_candidates(self.config, lsh, self.anchor_owner, self.anchor_values, n_keys), len(lsh)
        del lsh, self.anchor_owner, self.anchor_values

    def verify(self) -> None:
        """Score the candidates on workers started here (they stay for the clustering)."""
        sets, pairs = self.sets, self.pairs
        publish(sets)
        self._open.callback(publish, None)
        self._open.callback(sets.use_pool, None)
        workers = scoring_pool(self.config.effective_workers, len(pairs), threads=compiled.available())
        sets.use_pool(self._open.enter_context(workers))
        with progress(self.show_progress, total=len(pairs), desc="verify", unit="pair") as bar:
            sets.on_pairs = bar.update
            self.edges, self.edge_jaccard, self.pair_con = _verify(sets, pairs, self.config.match_rule(), self.signed + 1, self.writer)
        sets.on_pairs = None
        self.n_pairs = len(pairs)

    def cluster(self) -> None:
        self.edges, self.assignment = _cluster(
            self.config, self.config.match_rule(), self.sets, self.paras, self.signed, self.pairs, self.pair_con,
            self.edges, self.edge_jaccard, self.key_rank, self.keys.count,
        )
        del self.pairs, self.pair_con  # scored and joined: their memory goes back before the store stage
        self.close()  # the pool and the published sets are done with

    def store(self) -> None:
        """Clusters and members with the furniture flag (the keys went in at the sign stage)."""
        paras = self.paras
        with progress(self.show_progress, total=None, desc="clusters", unit="cluster") as bar:
            self.built = expand_clusters(
                self.config, paras, np.arange(len(paras.key)), self.para_rank, self.key_len, self.assignment, self.best_para, bar.update
            )
        built = self.built
        self.furniture = corpus_boilerplate(paras, built.member_ids, built.member_clusters)
        self.writer.insert("clusters", ((*row[:-1], int(row[0] in self.furniture)) for row in built.clusters))
        self.writer.insert("members", built.members)
        self.writer.set_cluster_ids()

    def passages(self) -> None:
        self.n_passages = self.passages_of(self.writer)

    def counts(self) -> dict:
        paras, built, (b, r) = self.paras, self.built, self.bands_rows
        return dict(
            documents=len(paras.paths), clusters=len(built.clusters), boilerplate_clusters=len(self.furniture), passages=self.n_passages,
            duplicate_paragraphs=built.duplicate_paragraphs, chars=int(paras.length.sum()), duplicate_chars=built.duplicate_chars,
            paragraphs=len(paras.key), empty_paragraphs=int((paras.key < 0).sum()), distinct_keys=len(self.key_len),
            signed_keys=len(self.signed), candidate_pairs=self.n_pairs, lsh_pairs=self.n_lsh, verified_edges=len(self.edges), bands=b, rows=r,
        )


RELATIONS = ("canonical", "exact")  # a member's relation by code; code 2: "near" or "contained", by its similarity


@dataclass(frozen=True)
class ClusterRows:
    """Rows of the clusters table (cluster ids numbered from 1 in the order of the canonicals;
    the boilerplate column still 0) and the members held as arrays, cluster by cluster: a
    Python tuple a member exists only while ``members`` is read (written to the database)."""

    clusters: list[tuple]
    member_ids: np.ndarray  # paragraphs.id
    member_clusters: np.ndarray  # cluster id
    relation: np.ndarray  # 0 canonical, 1 exact copy, 2 compared: near or contained by its similarity
    similarity: np.ndarray  # of its key to the canonical's (unrounded; 1.0 unless compared)
    containment: np.ndarray
    threshold: float
    duplicate_paragraphs: int
    duplicate_chars: int

    @property
    def members(self) -> Iterator[tuple]:
        """The members rows (paragraph id, cluster id, similarity, relation, containment), made a
        block at a time each time this is read; the values as ``cluster_rows`` gives them."""
        near = self.threshold - 1e-12
        for s in range(0, len(self.member_ids), EXPAND_BLOCK):
            block = slice(s, s + EXPAND_BLOCK)
            for pid, cid, code, sim, con in zip(self.member_ids[block].tolist(), self.member_clusters[block].tolist(),
                                                self.relation[block].tolist(), self.similarity[block].tolist(), self.containment[block].tolist()):
                if code == 2:
                    sim, con = round(sim, 6), round(con, 6)
                    yield pid, cid, sim, "near" if sim >= near else "contained", con
                else:
                    yield pid, cid, 1.0, RELATIONS[code], 1.0


class ClusterMember(NamedTuple):
    """One paragraph of a cluster, as its rows need it (both engines build these)."""

    para_id: int  # paragraphs.id
    key: int  # its key (any id that tells keys apart)
    similarity: float  # of its key to the canonical's key (unused for exact copies)
    containment: float
    facts: MemberFacts
    chars: int  # characters of the paragraph
    fragment: bool  # its key is a fragment of a longer one (cluster.fragments)
    rank: object  # its place under the canonical policy (lower is better; comparable)


def cluster_rows(
    config: ScanConfig, cid: int, group: list[ClusterMember], canonical_id: int, n_documents: int, boilerplate: bool
) -> tuple[tuple, list[tuple], int, int]:
    """The clusters row and members rows of cluster ``cid`` (``group`` in paragraph order, the
    canonical among them), with its count of duplicate paragraphs and their characters."""
    canonical = next(m for m in group if m.para_id == canonical_id)
    member_rows, others = [], []
    passed_over = dup_chars = 0
    for m in group:
        if m is canonical:
            relation, sim, con = "canonical", 1.0, 1.0
        elif m.key == canonical.key:
            relation, sim, con = "exact", 1.0, 1.0
        else:
            sim, con = round(m.similarity, 6), round(m.containment, 6)
            relation = "near" if sim >= config.threshold - 1e-12 else "contained"
        member_rows.append((m.para_id, cid, sim, relation, con))
        if m is not canonical:
            others.append(m.facts)
            passed_over += m.fragment and m.rank < canonical.rank
            dup_chars += m.chars
    why = reason(config.canonical, canonical.facts, others, fragments_passed_over=passed_over)
    return (cid, canonical_id, len(group), n_documents, why, int(boilerplate)), member_rows, len(others), dup_chars


EXPAND_BLOCK = 65_536  # members turned into Python rows at a time


def expand_clusters(config: ScanConfig, paras: Paragraphs, subset: np.ndarray, para_rank: np.ndarray, key_len: np.ndarray,
                    assignment: Assignment, best_para: np.ndarray, on_cluster=None) -> ClusterRows:
    """Expand key clusters to the paragraphs ``subset`` (positions, in corpus order; every
    paragraph of a cluster must be in it), each with its relation to the canonical and the reason.

    The rows equal those ``cluster_rows`` gives a cluster of ``ClusterMember`` (the reference,
    compared in tests), computed for all clusters at once from arrays: a Python object a member
    cost ~2.5 us and most of the store stage's memory."""
    para_key = paras.key[subset]
    key_canon = assignment.canonical
    canon_key = np.where(para_key >= 0, key_canon[np.maximum(para_key, 0)] if len(key_canon) else -1, -1)
    members = subset[canon_key >= 0]
    # order clusters by their canonical paragraph: stable, file-order-independent ids
    canon_para = best_para[canon_key[canon_key >= 0]]
    order = np.lexsort((members, canon_para))
    members, canon_para = members[order], canon_para[order]
    if not len(members):
        empty = np.zeros(0, np.int64)
        return ClusterRows([], empty, empty, empty, np.zeros(0), np.zeros(0), config.threshold, 0, 0)
    starts = np.nonzero(np.r_[True, canon_para[1:] != canon_para[:-1]])[0]
    group_of = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(members)]))
    keys, canon_keys = paras.key[members], paras.key[canon_para]
    is_canon = members == canon_para
    relation = np.where(is_canon, 0, np.where(keys == canon_keys, 1, 2)).astype(np.int8)
    member_doc = paras.doc[members]
    standings = _standings(paras, members, canon_para[starts], keys, ~is_canon, starts, group_of,
                           key_len, para_rank, assignment.fragment)
    # the documents of every cluster: distinct (cluster, document) pairs
    above = int(member_doc.max(initial=0)) + 1
    n_documents = np.bincount(np.unique(group_of.astype(np.int64) * above + member_doc) // above, minlength=len(starts))
    canon_ids = paras.ids[canon_para[starts]].tolist()
    sizes = np.diff(np.r_[starts, len(members)]).tolist()
    clusters = [(cid, canon_ids[g], sizes[g], n, explain(config.canonical, standings[g]), 0)
                for g, (cid, n) in enumerate(zip(range(1, len(starts) + 1), n_documents.tolist()))]
    if on_cluster:
        on_cluster(len(clusters))
    compared = relation == 2
    sim, con = np.ones(len(members)), np.ones(len(members))
    sim[compared], con[compared] = assignment.similarity[keys[compared]], assignment.containment[keys[compared]]
    return ClusterRows(clusters, paras.ids[members], group_of + 1, relation, sim, con, config.threshold,
                       int((~is_canon).sum()), int(paras.length[members][~is_canon].sum()))


def _standings(paras: Paragraphs, members: np.ndarray, canonicals: np.ndarray, keys: np.ndarray, others: np.ndarray,
               starts: np.ndarray, group_of: np.ndarray, key_len: np.ndarray, para_rank: np.ndarray, fragment: np.ndarray) -> list[Standing]:
    """The ``Standing`` of every cluster's canonical (``canonicals``: its paragraph position;
    clusters are the runs of ``members`` from ``starts``; ``others``: not the canonical), each
    count and extreme one reduction over the runs."""
    lengths, canon_len = key_len[keys], key_len[paras.key[canonicals]]
    date = np.asarray(paras.doc_date, dtype=float)[paras.doc[members] - 1]
    canon_date = np.asarray(paras.doc_date, dtype=float)[paras.doc[canonicals] - 1]

    def count(mask: np.ndarray) -> list[int]:
        return np.add.reduceat((others & mask).astype(np.int64), starts).tolist()

    passed_over = count(fragment[keys] & (para_rank[members] < para_rank[canonicals][group_of]))
    same_length = count(lengths == canon_len[group_of])
    next_length = np.maximum.reduceat(np.where(others, lengths, 0), starts).tolist()
    same_date = count(date == canon_date[group_of])
    next_date = np.fmin.reduceat(np.where(others, date, np.nan), starts).tolist()
    paths, lines = paras.paths, paras.line[canonicals].tolist()
    facts = [MemberFacts(n, paths[d - 1], line, when) for n, d, line, when in
             zip(canon_len.tolist(), paras.doc[canonicals].tolist(), lines, canon_date.tolist())]
    return [Standing(*row) for row in zip(facts, passed_over, same_length, next_length, same_date, next_date)]
