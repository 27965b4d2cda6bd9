"""The scan's pipeline on documents held in memory, for ``dedup.deduplicate``.

The stages are the scan's own (``local.LocalStages``), so the clusters,
canonicals and scores are those a scan of the same documents gives. Two things differ: the
documents are prepared in this process, a batch at a time, instead of read from files by the
workers (verification still uses them on large inputs), and the rows go to ``MemorySink``, which
keeps the tables a caller wants as dicts and drops what only a later update would read (keys,
verified pairs). The key store is a scratch file in the temporary folder, removed at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from .. import compiled
from ..atomic import tmp_dir
from ..config import ScanConfig
from ..sources.corpus import Document
from ..store.keystore import KeyStore
from ..store.writer import stored_value, table_columns
from ..match.passages import PassageMember, find_passages
from ..run import Run

BATCH_CHARS = 512 * 1024  # characters of documents prepared (and signed) at a time


class MemorySink:
    """A writer that keeps the rows of ``KEPT`` tables as dicts, by the storage contract's column
    names, and consumes the others (the scan writes them as generators)."""

    KEPT = ("documents", "paragraphs", "clusters", "members", "passages")

    def __init__(self) -> None:
        self.tables: dict[str, list[dict]] = {name: [] for name in self.KEPT}

    def insert(self, table: str, rows: Iterable[tuple], columns: Sequence[str] | None = None,
               values: dict[str, str] | None = None) -> None:
        """``Writer.insert``'s rows kept as dicts; columns left out of ``columns`` are None, and a
        column of ``values`` (``PARAGRAPH_VALUES``) holds what its SQL would store."""
        if table in self.tables:
            every = list(table_columns(table))
            given = every if columns is None else list(columns)
            made = [c for c in given if c in (values or {})]
            for row in rows:
                record = {**dict.fromkeys(every), **dict(zip(given, row))}
                for column in made:
                    record[column] = stored_value(record[column])
                self.tables[table].append(record)
        else:
            for _ in rows:
                pass

    def set_cluster_ids(self) -> None:
        cluster_of = {m["paragraph_id"]: m["cluster_id"] for m in self.tables["members"]}
        for p in self.tables["paragraphs"]:
            p["cluster_id"] = cluster_of.get(p["id"])

    def refresh_passages(self) -> int:
        """The passages of the members kept, as ``passages.refresh_passages`` finds them in a
        database (page furniture left out); returns how many."""
        self.set_cluster_ids()
        docs = {d["id"]: d["path"] for d in self.tables["documents"]}
        paragraphs = {p["id"]: p for p in self.tables["paragraphs"]}
        furniture = {c["id"] for c in self.tables["clusters"] if c["boilerplate"]}
        members = []
        for m in self.tables["members"]:
            if m["cluster_id"] not in furniture:
                p = paragraphs[m["paragraph_id"]]
                members.append(PassageMember(p["doc_id"], docs[p["doc_id"]], p["idx"], p["line_start"], p["line_end"],
                                             p["char_end"] - p["char_start"], m["cluster_id"], m["relation"] == "canonical", m["similarity"]))
        self.tables["passages"] = []
        self.insert("passages", find_passages(members))
        return len(self.tables["passages"])


def prepared_batches(docs: list[Document], config: ScanConfig) -> Iterator:
    """The documents split, normalized, fingerprinted and signed, as the scan's workers send
    them back: one ``PreparedBatch`` per ``BATCH_CHARS`` of text."""
    from .local import document_signer, merge_prepared, prepare_document

    normalizer = compiled.make_normalizer(config.steps)
    signer = document_signer(config)
    run, chars = [], 0
    for doc in docs:
        run.append(prepare_document(doc, config.split, normalizer))
        chars += len(doc.text)
        if chars >= BATCH_CHARS:
            yield merge_prepared(run, signer)
            run, chars = [], 0
    if run:
        yield merge_prepared(run, signer)


def run_in_memory(docs: list[Document], config: ScanConfig) -> tuple[list[dict], list[dict], dict]:
    """(paragraph rows, member rows, counts) of the documents, as a scan would store them."""
    from .local import LocalStages

    compiled.prepare()
    sink = MemorySink()
    if not docs:
        return [], [], {"documents": 0, "paragraphs": 0, "clusters": 0}
    store = KeyStore(tmp_dir(None), prefix=".dedup-memory-keys-")  # deleted by close()
    run = Run()  # texts given in memory: nothing to skip, every bad one an error
    try:
        with LocalStages(config, prepared_batches(docs, config), "the texts", store, sink, run, False, None, MemorySink.refresh_passages) as stages:
            counts = run.execute(stages)
    finally:
        store.close()
    return sink.tables["paragraphs"], sink.tables["members"], counts
