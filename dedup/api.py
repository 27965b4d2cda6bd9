"""The library's public interface: what ``import dedup`` gives, and what the CLI and the service
call.

    import dedup

    result = dedup.scan("corpus/", db="dedup.db", threshold=0.7)   # or config=dedup.ScanConfig(...)
    dedup.add("dedup.db", ["corpus/new.txt"])                       # read these files again
    dedup.remove("dedup.db", ["old.txt"])                           # as stored: relative paths
    found = dedup.deduplicate(["a text", "another text", ...])      # in memory, no database

``scan``, ``add`` and ``remove`` write a database with the tables of DESIGN.md's storage
contract (read them with ``sqlite3``, ``dedup.open_scan`` or Datasette). ``deduplicate`` runs the
same pipeline on texts held in memory (a list, a pandas Series, a Hugging Face ``datasets``
column: any iterable of strings) and returns the clusters as Python objects: nothing is
written but the scratch file of the keys, in the temporary folder, removed at the end.

Every function raises a ``DedupError`` subclass (``ConfigError``, ``CorpusError``,
``DatabaseError``, ``WriteError``) whose message is one line naming the problem and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .config import ScanConfig
from .sources.corpus import Document, Skipped
from .errors import ConfigError

__all__ = ["ClusterMember", "Deduplication", "ParagraphResult", "add", "deduplicate", "open_scan", "remove", "scan"]


def config_of(config: ScanConfig | None, options: dict) -> ScanConfig:
    """``config`` with ``options`` (ScanConfig fields) replacing its values; ``ConfigError``
    naming an option ScanConfig does not have."""
    base = config or ScanConfig()
    fields = {f.name for f in dataclasses.fields(ScanConfig)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ConfigError(f"unknown scan option {unknown[0]!r}; the options are the fields of ScanConfig: {', '.join(sorted(fields))}")
    return dataclasses.replace(base, **options) if options else base


def scan(
    corpus: str | Path, db: str | Path = "dedup.db", *, config: ScanConfig | None = None, force: bool = False,
    full: bool = False, skip_bad: bool = False, progress: bool = False,
    on_skip: Callable[[Skipped], None] | None = None, **options,
):  # fmt: skip
    """Scan every input file below ``corpus`` (a folder or one file) into the database ``db``,
    updating it when it holds an earlier scan of the same corpus with the same options (unless
    ``full``). Options are ScanConfig fields (``threshold=0.7``, ``workers=1``...). Returns a
    ``ScanResult`` (``counts``, ``timings``, ``skipped``)."""
    from .pipeline import scan as run_scan

    return run_scan(corpus, config_of(config, options), db, force=force, skip_bad=skip_bad, show_progress=progress, on_skip=on_skip, full=full)


def add(db: str | Path, files: Sequence[str | Path], *, workers: int = 0, progress: bool = False,
        on_skip: Callable[[Skipped], None] | None = None) -> dict:
    """Read ``files`` of the scanned corpus (new ones, or changed ones again) into the scan in
    ``db``; clusters are updated, their ids kept, the changes recorded. Returns the counts."""
    from .engines.update import apply_to_stored, plan_add

    paths = [Path(f) for f in files]
    return apply_to_stored(Path(db), lambda conn, config, root: plan_add(conn, paths, root, config.selection),
                           workers=workers, show_progress=progress, skip=on_skip)


def remove(db: str | Path, paths: Sequence[str], *, workers: int = 0, progress: bool = False) -> dict:
    """Remove the documents of ``paths`` (as stored: relative to the corpus) from the scan in
    ``db``. Returns the counts."""
    from .engines.update import apply_to_stored, plan_remove

    return apply_to_stored(Path(db), lambda conn, config, root: plan_remove(conn, list(paths)), workers=workers, show_progress=progress)


def open_scan(db: str | Path):
    """The scan stored in ``db`` for reading: a ``sqlite_utils.Database`` on its tables
    (``documents``, ``paragraphs``, ``clusters``, ``members``, ``runs``; DESIGN.md has the
    contract). ``DatabaseError`` when it is missing or not a dedup database."""
    from .store.writer import open_existing

    return open_existing(db)


# -- in memory -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClusterMember:
    """Where a paragraph's copy is: the text (its index in the input) and paragraph index of
    its cluster's canonical, and how it matches it."""

    cluster: int  # cluster id (1-based, in the order of the canonicals)
    canonical_text: int  # index of the text holding the canonical
    canonical_paragraph: int  # its paragraph index in that text
    relation: str  # canonical, exact, near or contained
    similarity: float  # Jaccard to the canonical (1.0 for the canonical itself)
    containment: float  # share of the smaller paragraph's shingles inside the larger


@dataclasses.dataclass(frozen=True)
class ParagraphResult:
    """One paragraph of one input text, and its cluster when it has copies (None: unique)."""

    text: int  # index of the input text
    id: str  # the text's id (``ids``, or its index as a string)
    paragraph: int  # paragraph index in the text (0-based)
    line_start: int  # 1-based lines of the text the paragraph spans
    line_end: int
    content: str
    member: ClusterMember | None

    @property
    def is_copy(self) -> bool:
        """A member of a cluster other than its canonical: what a cleanup would drop."""
        return self.member is not None and self.member.relation != "canonical"


@dataclasses.dataclass(frozen=True)
class Deduplication:
    """What ``deduplicate`` found: every paragraph of every text, in input order."""

    paragraphs: list[ParagraphResult]
    n_texts: int
    counts: dict

    def clusters(self) -> dict[int, list[ParagraphResult]]:
        """Cluster id -> its members, the canonical first."""
        out: dict[int, list[ParagraphResult]] = {}
        for p in self.paragraphs:
            if p.member is not None:
                out.setdefault(p.member.cluster, []).append(p)
        for members in out.values():
            members.sort(key=lambda p: p.member.relation != "canonical")
        return out

    def copied_share(self) -> list[float]:
        """Per text: the share of its characters in paragraphs that copy another (0..1)."""
        total, copied = [0] * self.n_texts, [0] * self.n_texts
        for p in self.paragraphs:
            total[p.text] += len(p.content)
            if p.is_copy:
                copied[p.text] += len(p.content)
        return [c / t if t else 0.0 for c, t in zip(copied, total)]

    def records(self) -> list[dict]:
        """One flat dict a paragraph (``pandas.DataFrame(result.records())``)."""
        rows = []
        for p in self.paragraphs:
            m = p.member
            rows.append({
                "text": p.text, "id": p.id, "paragraph": p.paragraph, "line_start": p.line_start, "line_end": p.line_end,
                "content": p.content, "cluster": m.cluster if m else None, "relation": m.relation if m else None,
                "canonical_text": m.canonical_text if m else None, "canonical_paragraph": m.canonical_paragraph if m else None,
                "similarity": m.similarity if m else None, "containment": m.containment if m else None,
            })  # fmt: skip
        return rows


def deduplicate(texts: Iterable[str], ids: Iterable | None = None, *, config: ScanConfig | None = None, **options) -> Deduplication:
    """Find the near-duplicate paragraphs of ``texts`` held in memory, as a scan of the same
    texts would (the same clusters, canonicals and scores), without a database.

    ``texts`` is any iterable of strings (a list, a pandas Series, a ``datasets`` column); each
    is one document, split into paragraphs as ``config.split`` says. ``ids`` name them (default:
    their index); canonicals follow the policy, ``first`` meaning input order. Options are
    ScanConfig fields. ``ConfigError`` for a text that is not a string or ids that repeat.
    """
    from .engines.memory import run_in_memory

    config = config_of(config, options)
    docs = _documents(texts, ids)
    paragraphs, members, counts = run_in_memory(docs, config)
    position = {p["id"]: (p["doc_id"] - 1, p["idx"]) for p in paragraphs}
    canonical_of = {m["cluster_id"]: m["paragraph_id"] for m in members if m["relation"] == "canonical"}
    by_paragraph = {m["paragraph_id"]: m for m in members}
    out = []
    for p in paragraphs:
        m = by_paragraph.get(p["id"])
        member = None
        if m is not None:
            text, idx = position[canonical_of[m["cluster_id"]]]
            member = ClusterMember(m["cluster_id"], text, idx, m["relation"], m["similarity"], m["containment"])
        doc = p["doc_id"] - 1
        out.append(ParagraphResult(doc, docs[doc].path, p["idx"], p["line_start"], p["line_end"], p["text"], member))
    return Deduplication(out, len(docs), counts)


def _documents(texts: Iterable[str], ids: Iterable | None) -> list[Document]:
    docs = []
    names = None if ids is None else [str(i) for i in ids]
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ConfigError(f"text {i} is a {type(text).__name__}, not a string; pass the texts as strings")
        name = names[i] if names is not None and i < len(names) else str(i)
        data = text.encode("utf-8", "surrogatepass")
        docs.append(Document(name, text.replace("\r\n", "\n").replace("\r", "\n"), "utf-8", len(data), hashlib.sha1(data).hexdigest(), source=name, record=i + 1))
    if names is not None and len(names) != len(docs):
        raise ConfigError(f"{len(names)} ids for {len(docs)} texts; give one id a text")
    if names is not None and len(set(names)) != len(names):
        raise ConfigError("the ids repeat; give every text its own id")
    return docs
