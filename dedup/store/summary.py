"""Read results back from a scan's database: the summary and one cluster in detail.

``dedup scan`` prints the summary from the database it has just written and ``dedup stats``
prints it again later, with the same code, so the two can never disagree.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import sqlite_utils

from ..errors import DatabaseError


@dataclass(frozen=True)
class TopBlock:
    cluster_id: int
    text: str  # the canonical paragraph
    size: int
    n_documents: int
    boilerplate: bool
    copied_chars: int = 0  # characters of its copies outside the canonical's document


@dataclass(frozen=True)
class TopPassage:
    """A passage as the summary lists it and the report marks it: where both sides are, how
    large it is, and how it starts."""

    passage_id: int
    source_doc: int  # documents.id
    source_path: str
    source_lines: tuple[int, int]
    copy_doc: int
    copy_path: str
    copy_lines: tuple[int, int]
    paragraphs: int
    characters: int
    similarity: float
    text: str  # the first paragraph of the copy side ("" when not asked for)


@dataclass(frozen=True)
class Summary:
    root: str
    documents: int
    paragraphs: int
    clusters: int
    boilerplate_clusters: int
    boilerplate_paragraphs: int
    duplicate_paragraphs: int
    chars: int
    duplicate_chars: int
    seconds: float
    skipped: int
    top: list[TopBlock]
    passages: int = 0
    top_passages: list[TopPassage] = field(default_factory=list)

    @property
    def duplicate_share(self) -> float:
        """Share of paragraph characters that sit in non-canonical copies."""
        return self.duplicate_chars / self.chars if self.chars else 0.0


_TOP_BLOCKS_SQL = """
    SELECT c.id, cp.text, c.size, c.n_documents, c.boilerplate,
           coalesce(sum(CASE WHEN p.doc_id != cp.doc_id THEN p.char_end - p.char_start END), 0) AS copied
    FROM clusters c
    JOIN paragraphs cp ON cp.id = c.canonical_id
    JOIN members m ON m.cluster_id = c.id JOIN paragraphs p ON p.id = m.paragraph_id
    WHERE c.boilerplate IN ({})
    GROUP BY c.id
    ORDER BY c.boilerplate, copied DESC, c.n_documents DESC, c.size DESC, c.id LIMIT ?"""


def top_blocks(db: sqlite_utils.Database, top: int, boilerplate: bool | None = None) -> list[TopBlock]:
    """The ``top`` most reused clusters: most characters copied into other documents than the
    canonical's first (then most documents, most members, lowest id); real reuse before
    boilerplate, or only one of the two when ``boilerplate`` says which."""
    flags = (0, 1) if boilerplate is None else (int(boilerplate),)
    rows = db.execute(_TOP_BLOCKS_SQL.format(",".join(map(str, flags))), [top]).fetchall()
    return [TopBlock(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]

_TOP_PASSAGES_SQL = """
    SELECT ps.id, ps.source_doc_id, sd.path, ps.source_line_start, ps.source_line_end, ps.copy_doc_id, cd.path,
           ps.copy_line_start, ps.copy_line_end, ps.paragraphs, ps.characters, ps.similarity, {text}
    FROM passages ps JOIN documents sd ON sd.id = ps.source_doc_id JOIN documents cd ON cd.id = ps.copy_doc_id
    ORDER BY ps.characters DESC, ps.paragraphs DESC, ps.id LIMIT ?"""


_FIRST_COPIED = """(SELECT text FROM paragraphs WHERE doc_id = ps.copy_doc_id AND line_start >= ps.copy_line_start
                    ORDER BY idx LIMIT 1)"""


def top_passages(db: sqlite_utils.Database, top: int | None, text: bool = True) -> list[TopPassage]:
    """The ``top`` largest passages (every one for None), by copied characters, with the first
    paragraph of the copy side unless ``text`` is false."""
    sql = _TOP_PASSAGES_SQL.format(text=_FIRST_COPIED if text else "''")
    return [
        TopPassage(r[0], r[1], r[2], (r[3], r[4]), r[5], r[6], (r[7], r[8]), r[9], r[10], r[11], r[12] or "")
        for r in db.execute(sql, [-1 if top is None else top]).fetchall()
    ]


def summarize(db: sqlite_utils.Database, top: int = 5) -> Summary:
    """The headline figures of the latest run, its ``top`` largest passages and its ``top`` most
    reused blocks.

    Reuse is ranked by the characters copied into other documents than the canonical's: a
    heading repeated on every section of one page is not reuse, a long paragraph pasted into
    three pages is. Real text reuse comes first; boilerplate clusters only after it.
    """
    run = db.execute("SELECT root, started, finished, counts FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    if run is None:
        raise DatabaseError("the database holds no finished scan; run 'dedup scan' again")
    root, started, finished, counts_json = run
    counts = json.loads(counts_json)
    seconds = (dt.datetime.fromisoformat(finished) - dt.datetime.fromisoformat(started)).total_seconds()
    one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    return Summary(
        root=root,
        documents=one("SELECT count(*) FROM documents"),
        paragraphs=one("SELECT count(*) FROM paragraphs"),
        clusters=one("SELECT count(*) FROM clusters"),
        boilerplate_clusters=one("SELECT count(*) FROM clusters WHERE boilerplate"),
        boilerplate_paragraphs=one("SELECT coalesce(sum(size), 0) FROM clusters WHERE boilerplate"),
        duplicate_paragraphs=one("SELECT count(*) FROM members WHERE relation != 'canonical'"),
        # a paragraph's text is its document's from char_start to char_end: its length without
        # reading the text (every page of it: 0.4 s for 100 MB)
        chars=one("SELECT coalesce(sum(char_end - char_start), 0) FROM paragraphs"),
        duplicate_chars=one(
            """SELECT coalesce(sum(p.char_end - p.char_start), 0) FROM members m
               JOIN paragraphs p ON p.id = m.paragraph_id WHERE m.relation != 'canonical'"""
        ),
        seconds=max(seconds, 0.0),
        skipped=int(counts.get("skipped", 0)),
        top=top_blocks(db, top),
        passages=one("SELECT count(*) FROM passages"),
        top_passages=top_passages(db, top),
    )


@dataclass(frozen=True)
class MemberView:
    paragraph_id: int
    path: str
    line_start: int
    line_end: int
    similarity: float
    relation: str
    text: str
    containment: float


@dataclass(frozen=True)
class ClusterView:
    cluster_id: int
    reason: str
    n_documents: int
    boilerplate: bool
    members: list[MemberView]  # the canonical first, then by similarity, then corpus order


def cluster_detail(db: sqlite_utils.Database, cluster_id: int) -> ClusterView:
    """One cluster with its canonical and every copy; DatabaseError if there is no such cluster."""
    row = db.execute("SELECT reason, n_documents, boilerplate FROM clusters WHERE id = ?", [cluster_id]).fetchone()
    if row is None:
        count = db.execute("SELECT count(*) FROM clusters").fetchone()[0]
        raise DatabaseError(f"no cluster {cluster_id}; this database has clusters 1 to {count}")
    members = db.execute(
        """SELECT p.id, d.path, p.line_start, p.line_end, m.similarity, m.relation, p.text, m.containment
           FROM members m JOIN paragraphs p ON p.id = m.paragraph_id JOIN documents d ON d.id = p.doc_id
           WHERE m.cluster_id = ?
           ORDER BY m.relation != 'canonical', m.similarity DESC, p.id""",
        [cluster_id],
    ).fetchall()
    return ClusterView(cluster_id, row[0], row[1], bool(row[2]), [MemberView(*m) for m in members])


STATUSES = ("unique", "canonical", "copy", "boilerplate")
"""What a paragraph is in its scan: no copy anywhere; the source its copies were mapped to; a
copy of another paragraph; or part of a boilerplate cluster (page furniture, any member)."""


@dataclass(frozen=True)
class ParagraphStatus:
    paragraph_id: int
    idx: int
    line_start: int
    line_end: int
    text: str
    status: str  # one of STATUSES
    cluster_id: int | None
    relation: str | None  # canonical, exact, near, contained; None when unique
    similarity: float | None
    containment: float | None
    canonical_id: int | None  # the cluster's canonical paragraph, its document and line
    canonical_path: str | None
    canonical_line: int | None

    @property
    def score(self) -> float | None:
        """How much of the canonical it holds: containment for a partial copy, else similarity."""
        return self.containment if self.relation == "contained" else self.similarity


@dataclass(frozen=True)
class DocumentView:
    doc_id: int
    path: str
    paragraphs: list[ParagraphStatus]  # in document order


_PARAGRAPH_STATUS_SQL = """
    SELECT p.doc_id, p.id, p.idx, p.line_start, p.line_end, p.text, m.cluster_id, m.relation, m.similarity,
           m.containment, c.boilerplate, c.canonical_id, cd.path, cp.line_start
    FROM paragraphs p
    LEFT JOIN members m ON m.paragraph_id = p.id
    LEFT JOIN clusters c ON c.id = m.cluster_id
    LEFT JOIN paragraphs cp ON cp.id = c.canonical_id
    LEFT JOIN documents cd ON cd.id = cp.doc_id
    WHERE p.doc_id IN ({}) AND p.idx < ?
    ORDER BY p.doc_id, p.idx"""


def paragraph_statuses(db: sqlite_utils.Database, doc_ids: list[int], limit: int | None = None) -> dict[int, list[ParagraphStatus]]:
    """Every paragraph of these documents (the first ``limit`` of each) with its status."""
    out: dict[int, list[ParagraphStatus]] = {d: [] for d in doc_ids}
    for start in range(0, len(doc_ids), 500):  # SQLite caps the number of parameters
        chunk = doc_ids[start : start + 500]
        sql = _PARAGRAPH_STATUS_SQL.format(",".join("?" * len(chunk)))
        for doc_id, pid, idx, l1, l2, text, cid, relation, sim, contained, boiler, canonical_id, cpath, cline in db.execute(
            sql, [*chunk, limit if limit is not None else 1 << 62]
        ):
            if cid is None:
                status = "unique"
            elif boiler:
                status = "boilerplate"
            else:
                status = "canonical" if relation == "canonical" else "copy"
            out[doc_id].append(ParagraphStatus(pid, idx, l1, l2, text, status, cid, relation, sim, contained, canonical_id, cpath, cline))
    return out


def document_detail(db: sqlite_utils.Database, path: str) -> DocumentView:
    """One document, every paragraph with its status; DatabaseError naming close paths if absent."""
    row = db.execute("SELECT id, path FROM documents WHERE path = ?", [path]).fetchone()
    if row is None:
        import difflib

        paths = [r[0] for r in db.execute("SELECT path FROM documents ORDER BY id")]
        stem = path.rsplit(".", 1)[0]
        close = [p for p in paths if p.startswith(stem)][:1] or difflib.get_close_matches(path, paths, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else (f"paths are as stored, relative to the corpus, e.g. {paths[0]!r}" if paths else "the scan holds no document")
        raise DatabaseError(f"no document {path!r} in this scan; {hint}")
    doc_id, stored = row
    return DocumentView(doc_id, stored, paragraph_statuses(db, [doc_id])[doc_id])


@dataclass(frozen=True)
class PassageSide:
    """The paragraphs of one side of a passage, in document order."""

    path: str
    lines: tuple[int, int]
    paragraphs: list[tuple[int, int, str, int | None]]  # line_start, line_end, text, cluster id


@dataclass(frozen=True)
class PassageView:
    passage_id: int
    source: PassageSide
    copy: PassageSide
    paragraphs: int
    characters: int
    similarity: float


def _side(db: sqlite_utils.Database, doc_id: int, first: int, last: int) -> PassageSide:
    path = db.execute("SELECT path FROM documents WHERE id = ?", [doc_id]).fetchone()[0]
    rows = db.execute(
        """SELECT line_start, line_end, text, cluster_id FROM paragraphs
           WHERE doc_id = ? AND line_start >= ? AND line_end <= ? ORDER BY idx""",
        [doc_id, first, last],
    ).fetchall()
    return PassageSide(path, (first, last), [tuple(r) for r in rows])


def passage_detail(db: sqlite_utils.Database, passage_id: int) -> PassageView:
    """One passage with the paragraphs of both sides; DatabaseError if there is no such passage."""
    row = db.execute(
        """SELECT source_doc_id, source_line_start, source_line_end, copy_doc_id, copy_line_start, copy_line_end,
                  paragraphs, characters, similarity FROM passages WHERE id = ?""",
        [passage_id],
    ).fetchone()
    if row is None:
        count = db.execute("SELECT count(*) FROM passages").fetchone()[0]
        have = f"passages 1 to {count}" if count else "no passage"
        raise DatabaseError(f"no passage {passage_id}; this database has {have} (see 'dedup stats' or 'dedup export --table passages')")
    source, copy = _side(db, *row[0:3]), _side(db, *row[3:6])
    return PassageView(passage_id, source, copy, row[6], row[7], row[8])
