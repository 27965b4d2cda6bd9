"""``dedup report``: one self-contained HTML file that shows a scan's reuse.

Two halves. ``gather`` reads the database into plain data (``ReportData``): headline numbers
(the very ``Summary`` that ``dedup stats`` prints, so the two cannot disagree), cluster sizes,
each document's copied share, the document x document reuse matrix, the most reused blocks with
every copy's character diff (``diffview``), the largest passages (runs of paragraphs copied
together) with both sides aligned, and documents paragraph by paragraph, each paragraph saying
which passages it is in (the pairs of documents list theirs too). ``render``
turns that into HTML. ``build_report`` does both and writes the file atomically.

The file needs no network: charts are inline SVG (``charts.py``), the style sheet is inline, and
there is no script. Every piece of corpus text and every path goes through ``html.escape``:
scraped text may hold ``<script>``.

A scan of 100k paragraphs must still open in a browser in seconds, so what is inlined is capped
(``Limits``): the most reused blocks in full (and at most ``members`` copies each), the
documents with most copied text paragraph by paragraph (and at most ``paragraphs`` paragraphs
in all), the matrix over at most ``matrix`` documents (those sharing most text) and the top
``pairs`` pairs of documents beyond. The report says what it left out and which ``dedup show``
command prints the rest.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from .. import __version__
from . import charts
from ..atomic import write_atomically
from .console import line_range, score, status_counts
from .diffview import COSMETIC, Segment, align_paragraphs, diff, edited
from ..store.writer import open_existing
from ..store.summary import (
    STATUSES,
    ClusterView,
    DocumentView,
    MemberView,
    PassageView,
    Summary,
    TopPassage,
    cluster_detail,
    paragraph_statuses,
    passage_detail,
    summarize,
    top_blocks,
    top_passages,
)


@dataclass(frozen=True)
class Limits:
    """How much of a scan the report inlines; everything beyond is counted, not shown."""

    clusters: int = 50  # most reused blocks (real reuse) shown with their copies
    passages: int = 30  # largest passages shown with both sides aligned
    boilerplate: int = 10  # boilerplate clusters shown the same way, in their own section
    members: int = 20  # copies shown per block
    documents: int = 50  # documents shown paragraph by paragraph
    paragraphs: int = 3000  # paragraphs in all those document views together
    matrix: int = 150  # documents in the heat map
    pairs: int = 50  # rows of the table of document pairs
    table: int = 300  # rows of the table of documents


@dataclass(frozen=True)
class DocumentRow:
    doc_id: int
    path: str
    paragraphs: int
    chars: int
    copied: int  # characters in copies of real reuse (boilerplate apart)
    boilerplate: int  # characters in boilerplate clusters (any member)

    @property
    def copied_share(self) -> float:
        return self.copied / self.chars if self.chars else 0.0


@dataclass(frozen=True)
class Pair:
    copier: DocumentRow
    source: DocumentRow
    chars: int  # characters of the copier's paragraphs that copy a canonical in the source
    paragraphs: int


@dataclass(frozen=True)
class Block:
    """A cluster as the report shows it: the canonical, then copies with their differences."""

    view: ClusterView
    copies: list[tuple[MemberView, list[Segment]]]
    hidden: int  # copies left out by Limits.members


@dataclass
class ReportData:
    db_name: str
    finished: str
    summary: Summary
    limits: Limits
    sizes: list[tuple[int, int, int]]  # (members, real-reuse clusters, boilerplate clusters)
    documents: list[DocumentRow]  # every document, in corpus order
    matrix_docs: list[DocumentRow]  # the heat map's documents, D1 .. Dn
    matrix: list[list[int]]
    pairs: list[Pair]  # between two different documents, most shared text first
    n_pairs: int
    blocks: list[Block]
    boilerplate_blocks: list[Block]
    views: list[DocumentView]
    views_cut: dict[int, int] = field(default_factory=dict)  # doc_id -> paragraphs left out
    passages: list[PassageView] = field(default_factory=list)  # the largest, both sides aligned
    spans: list[TopPassage] = field(default_factory=list)  # every passage, largest first

    @property
    def shown_clusters(self) -> set[int]:
        return {b.view.cluster_id for b in self.blocks + self.boilerplate_blocks}

    @property
    def shown_paragraphs(self) -> set[int]:
        return {p.paragraph_id for v in self.views for p in v.paragraphs}


# -- gathering -------------------------------------------------------------------------------


def _documents(db: sqlite_utils.Database) -> list[DocumentRow]:
    rows = db.execute(
        """SELECT d.id, d.path, count(p.id), coalesce(sum(length(p.text)), 0),
                  coalesce(sum(CASE WHEN m.relation != 'canonical' AND NOT c.boilerplate THEN length(p.text) END), 0),
                  coalesce(sum(CASE WHEN c.boilerplate THEN length(p.text) END), 0)
           FROM documents d LEFT JOIN paragraphs p ON p.doc_id = d.id
           LEFT JOIN members m ON m.paragraph_id = p.id LEFT JOIN clusters c ON c.id = m.cluster_id
           GROUP BY d.id ORDER BY d.id"""
    )
    return [DocumentRow(*r) for r in rows]


def _shared(db: sqlite_utils.Database) -> dict[tuple[int, int], tuple[int, int]]:
    """(copying doc, source doc) -> (characters, paragraphs) of real reuse (boilerplate apart)."""
    rows = db.execute(
        """SELECT p.doc_id, cp.doc_id, sum(length(p.text)), count(*) FROM members m
           JOIN paragraphs p ON p.id = m.paragraph_id JOIN clusters c ON c.id = m.cluster_id
           JOIN paragraphs cp ON cp.id = c.canonical_id
           WHERE m.relation != 'canonical' AND NOT c.boilerplate
           GROUP BY p.doc_id, cp.doc_id"""
    )
    return {(a, b): (chars, n) for a, b, chars, n in rows}


def _block(db: sqlite_utils.Database, cluster_id: int, limit: int) -> Block:
    view = cluster_detail(db, cluster_id)
    canonical = view.members[0].text
    copies = [(m, diff(canonical, m.text)) for m in view.members[1 : 1 + limit]]
    return Block(view, copies, max(0, len(view.members) - 1 - limit))


def _top_clusters(db: sqlite_utils.Database, boilerplate: bool, limit: int) -> list[int]:
    """The most reused clusters, ranked as the summary ranks them (characters copied into other
    documents first)."""
    return [b.cluster_id for b in top_blocks(db, limit, boilerplate)]


def _heat_map(documents: list, shared: dict, limit: int) -> tuple[list, list[list[int]]]:
    """(documents, characters shared by each two of them): every document of a small corpus,
    else the ``limit`` that share most text."""
    by_id = {d.doc_id: d for d in documents}
    if len(documents) <= limit:
        matrix_docs = documents
    else:
        involvement: dict[int, int] = {}
        for (a, b), (chars, _) in shared.items():
            involvement[a] = involvement.get(a, 0) + chars
            involvement[b] = involvement.get(b, 0) + chars
        chosen = sorted(involvement, key=lambda d: (-involvement[d], d))[:limit]
        matrix_docs = [by_id[d] for d in sorted(chosen)]
    position = {d.doc_id: i for i, d in enumerate(matrix_docs)}
    matrix = [[0] * len(matrix_docs) for _ in matrix_docs]
    for (a, b), (chars, _) in shared.items():
        if a in position and b in position:
            matrix[position[a]][position[b]] = chars
    return matrix_docs, matrix


def _document_views(db: sqlite_utils.Database, documents: list, limits: Limits) -> tuple[list[DocumentView], dict[int, int]]:
    """Documents paragraph by paragraph, those with most copied text first, within the budget of
    ``limits.paragraphs``; and how many paragraphs each cut document leaves out."""
    ranked = sorted(documents, key=lambda d: (-(d.copied + d.boilerplate), d.doc_id))[: limits.documents]
    budget, chosen_docs, cut = limits.paragraphs, [], {}
    for d in ranked:
        if budget <= 0:
            break
        take = min(d.paragraphs, budget)
        chosen_docs.append((d, take))
        budget -= take
        if take < d.paragraphs:
            cut[d.doc_id] = d.paragraphs - take
    statuses = paragraph_statuses(db, [d.doc_id for d, _ in chosen_docs], limit=max((t for _, t in chosen_docs), default=0))
    return [DocumentView(d.doc_id, d.path, statuses[d.doc_id][:take]) for d, take in chosen_docs], cut


def gather(db: sqlite_utils.Database, limits: Limits = Limits(), db_name: str = "dedup.db") -> ReportData:
    """Everything the report shows, read from a scan's database, as plain data."""
    summary = summarize(db, top=0)
    finished = db.execute("SELECT finished FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]
    sizes = [
        tuple(r)
        for r in db.execute(
            "SELECT size, sum(NOT boilerplate), sum(boilerplate != 0) FROM clusters GROUP BY size ORDER BY size"
        )
    ]
    documents = _documents(db)
    by_id = {d.doc_id: d for d in documents}
    shared = _shared(db)

    matrix_docs, matrix = _heat_map(documents, shared, limits.matrix)
    between = sorted(((k, v) for k, v in shared.items() if k[0] != k[1]), key=lambda kv: (-kv[1][0], kv[0]))
    pairs = [Pair(by_id[a], by_id[b], chars, n) for (a, b), (chars, n) in between[: limits.pairs]]

    blocks = [_block(db, c, limits.members) for c in _top_clusters(db, False, limits.clusters)]
    boiler = [_block(db, c, limits.members) for c in _top_clusters(db, True, limits.boilerplate)]

    views, cut = _document_views(db, documents, limits)
    passages = [passage_detail(db, p.passage_id) for p in top_passages(db, limits.passages)]
    return ReportData(
        passages=passages,
        spans=top_passages(db, None, text=False),
        db_name=db_name,
        finished=finished,
        summary=summary,
        limits=limits,
        sizes=sizes,
        documents=documents,
        matrix_docs=matrix_docs,
        matrix=matrix,
        pairs=pairs,
        n_pairs=len(between),
        blocks=blocks,
        boilerplate_blocks=boiler,
        views=views,
        views_cut=cut,
    )


# -- rendering -------------------------------------------------------------------------------

e = html.escape  # every piece of corpus text and every path goes through this

KIND_TITLES = {
    "script": "another script (traditional/simplified)",
    "pinyin": "pinyin junk after a character",
    "placeholder": "placeholder written otherwise (xx, **, 某)",
    "format": "punctuation, width, case or spacing",
}

CSS = """
:root { --reuse: #d9822b; --canon: #2f8f46; --boiler: #8a9199; }
* { box-sizing: border-box; }
body { font: 14px/1.55 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif;
       margin: 0; color: #1f2328; background: #fff; }
header { background: #24292f; color: #fff; padding: 14px 28px; }
header h1 { margin: 0; font-size: 20px; }
header p { margin: 2px 0 0; color: #c9d1d9; font-size: 13px; }
nav { position: sticky; top: 0; background: #f6f8fa; border-bottom: 1px solid #d0d7de; padding: 6px 28px; z-index: 2; }
nav a { margin-right: 16px; color: #0969da; text-decoration: none; font-size: 13px; }
main { padding: 0 28px 40px; max-width: 1200px; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: 4px; margin-top: 32px; }
.note { color: #57606a; font-size: 13px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; margin: 18px 0; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 10px 12px; }
.card .value { font-size: 22px; font-weight: 600; }
.card .label { color: #57606a; font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; }
.charts figure { margin: 0; }
figcaption { color: #57606a; font-size: 12px; max-width: 520px; }
svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border-bottom: 1px solid #eaeef2; padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; }
.block { border: 1px solid #d0d7de; border-radius: 6px; margin: 14px 0; }
.block > summary { padding: 8px 12px; cursor: pointer; background: #f6f8fa; }
.block .body { padding: 4px 12px 10px; }
.text { white-space: pre-wrap; word-break: break-word; }
.canonical-text { border-left: 4px solid var(--canon); padding: 4px 10px; background: #eef8f0; }
.copy { border-left: 4px solid var(--reuse); padding: 4px 10px; margin: 10px 0; }
.meta { color: #57606a; font-size: 12px; }
del { background: #ffd7d5; color: #82071e; text-decoration: line-through; }
ins { background: #b7ecc1; color: #055d20; text-decoration: none; font-weight: 600; }
.k-script { background: #dbeffa; }
.k-pinyin { background: #f2dcf5; color: #6e2d7a; }
.k-placeholder { background: #fff1b8; }
.k-format { border-bottom: 1px dotted #8a9199; }
.legend span { margin-right: 12px; padding: 0 4px; }
.para { display: grid; grid-template-columns: 70px 150px 1fr; gap: 8px; padding: 3px 6px; border-left: 4px solid transparent; }
.para .where, .para .st { font-size: 12px; color: #57606a; overflow-wrap: anywhere; }
.s-unique { border-left-color: #eaeef2; }
.s-canonical { border-left-color: var(--canon); background: #eef8f0; }
.s-copy { border-left-color: var(--reuse); background: #fdf1e3; }
.s-boilerplate { border-left-color: var(--boiler); background: #f3f4f6; color: #57606a; }
a { color: #0969da; }
table.passage { width: 100%; table-layout: fixed; }
table.passage col.where { width: 64px; }
table.passage td.where { font-size: 12px; color: #57606a; }
table.passage tr.copied td.text { background: #fdf1e3; }
table.passage tr.gap td.text { background: #f6f8fa; }
"""


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0.0%"


def render_segments(segments: list[Segment]) -> str:
    """The copy's text as HTML: edits as ``<del>``/``<ins>``, cosmetic differences as spans whose
    title says what the canonical has there."""
    out = []
    for s in segments:
        if s.kind == "same":
            out.append(e(s.new))
        elif s.kind == "edit":
            if s.old:
                out.append(f"<del>{e(s.old)}</del>")
            if s.new:
                out.append(f"<ins>{e(s.new)}</ins>")
        else:
            title = e(f"{KIND_TITLES[s.kind]}; canonical: {s.old or '(nothing)'}")
            out.append(f'<span class="k-{s.kind}" title="{title}">{e(s.new) if s.new else "&#8203;"}</span>')
    return "".join(out)


def _headline(data: ReportData) -> str:
    s = data.summary
    cards = [
        ("documents", f"{s.documents:,}"),
        ("paragraphs", f"{s.paragraphs:,}"),
        ("clusters", f"{s.clusters:,}"),
        ("duplicate paragraphs", f"{s.duplicate_paragraphs:,}"),
        ("duplicated characters", _pct(s.duplicate_chars, s.chars)),
        ("boilerplate clusters", f"{s.boilerplate_clusters:,}"),
        ("boilerplate paragraphs", f"{s.boilerplate_paragraphs:,}"),
        ("real-reuse clusters", f"{s.clusters - s.boilerplate_clusters:,}"),
        ("passages", f"{s.passages:,}"),
    ]
    items = "".join(
        f'<div class="card" data-figure="{e(label)}"><div class="value">{value}</div><div class="label">{e(label)}</div></div>'
        for label, value in cards
    )
    return (
        f'<section id="summary"><div class="cards">{items}</div>'
        f'<p class="note">{s.duplicate_chars:,} of {s.chars:,} characters are in copies (canonicals not counted). '
        f"Boilerplate: page furniture (short lines at the head or tail of pages, on most pages of a site, or repeated within a page), reported apart from real reuse.</p></section>"
    )


def _charts(data: ReportData) -> str:
    shares = [d.copied_share for d in data.documents]
    none = sum(1 for d in data.documents if d.copied == 0)
    return (
        '<section id="charts"><h2>Charts</h2><div class="charts">'
        f"<figure>{charts.cluster_sizes(data.sizes)}<figcaption>Clusters by number of members.</figcaption></figure>"
        f"<figure>{charts.copied_shares(shares)}<figcaption>Documents by the share of their characters that copy "
        f"another paragraph (real reuse; boilerplate apart). {none:,} of {len(data.documents):,} documents copy nothing."
        "</figcaption></figure></div></section>"
    )


def _doc_link(d: DocumentRow, shown: set[int]) -> str:
    return f'<a href="#d{d.doc_id}">{e(d.path)}</a>' if d.doc_id in shown else e(d.path)


def _matrix(data: ReportData) -> str:
    n_docs = len(data.documents)
    shown = {v.doc_id for v in data.views}
    if len(data.matrix_docs) == n_docs:
        scope = f"all {n_docs:,} documents"
    else:
        scope = f"the {len(data.matrix_docs):,} of {n_docs:,} documents that share most text (Limits.matrix)"
    key = "".join(
        f'<tr><td>D{i + 1}</td><td>{_doc_link(d, shown)}</td><td class="num">{d.paragraphs:,}</td>'
        f'<td class="num">{_pct(d.copied, d.chars)}</td><td class="num">{_pct(d.boilerplate, d.chars)}</td></tr>'
        for i, d in enumerate(data.matrix_docs)
    )
    by_pair: dict[tuple[int, int], list[TopPassage]] = {}
    for span in data.spans:
        by_pair.setdefault((span.copy_doc, span.source_doc), []).append(span)
    shown_passages = {v.passage_id for v in data.passages}
    pairs = "".join(
        f'<tr><td>{_doc_link(p.copier, shown)}</td><td>{_doc_link(p.source, shown)}</td>'
        f'<td class="num">{p.chars:,}</td><td class="num">{p.paragraphs:,}</td>'
        f'<td>{_passage_links(by_pair.get((p.copier.doc_id, p.source.doc_id), []), shown_passages)}</td></tr>'
        for p in data.pairs
    )
    more = f" (top {len(data.pairs):,} of {data.n_pairs:,})" if data.n_pairs > len(data.pairs) else ""
    heat = charts.reuse_matrix(data.matrix) if data.matrix_docs else "<p>No documents.</p>"
    return (
        '<section id="matrix"><h2>Who copies whom</h2>'
        f'<p class="note">Row: the copying document; column: the document holding the canonical; colour: characters '
        f"copied (real reuse; the diagonal is reuse inside one document). Over {scope}.</p>"
        f"<figure>{heat}</figure>"
        '<details><summary>Documents of the map</summary><table><tr><th></th><th>document</th><th class="num">paragraphs</th>'
        f'<th class="num">copied</th><th class="num">boilerplate</th></tr>{key}</table></details>'
        f"<h3>Pairs of documents by shared text{more}</h3>"
        + (
            '<table><tr><th>copying document</th><th>source document</th><th class="num">characters</th>'
            f'<th class="num">paragraphs</th><th>passages (copy lines)</th></tr>{pairs}</table>'
            if pairs
            else "<p>No text is shared between two different documents.</p>"
        )
        + "</section>"
    )


def _passage_links(spans: list[TopPassage], shown: set[int], limit: int = 8) -> str:
    """``P3 (167-211)``, linked to the passage where the report shows it."""
    links = [
        (f'<a href="#ps{sp.passage_id}">P{sp.passage_id}</a>' if sp.passage_id in shown else f"P{sp.passage_id}")
        + f" ({line_range(*sp.copy_lines)})"
        for sp in spans[:limit]
    ]
    more = f" and {len(spans) - limit:,} more" if len(spans) > limit else ""
    return ", ".join(links) + more


OPEN_BLOCKS = 10  # blocks shown unfolded; the others fold to their one-line summary


def _passage_html(view: PassageView, unfold: bool) -> str:
    """A passage as two columns, source and copy, one row per paragraph: copied paragraphs with the
    copy's differences from the source, the others as they stand."""
    src, cp = view.source, view.copy
    rows = []
    for i, j, copied in align_paragraphs([p[3] for p in src.paragraphs], [p[3] for p in cp.paragraphs]):
        a = src.paragraphs[i] if i is not None else None
        b = cp.paragraphs[j] if j is not None else None
        left = f'<td class="where">{line_range(*a[:2])}</td><td class="text">{e(a[2])}</td>' if a else '<td></td><td class="note">(not in the copy)</td>'
        if b and a:
            note = "" if copied else '<div class="meta">changed beyond the threshold</div>'
            right = f'<td class="where">{line_range(*b[:2])}</td><td class="text">{note}{render_segments(diff(a[2], b[2]))}</td>'
        elif b:
            right = f'<td class="where">{line_range(*b[:2])}</td><td class="text"><ins>{e(b[2])}</ins></td>'
        else:
            right = '<td></td><td class="note">(not in the source)</td>'
        rows.append(f'<tr class="{"copied" if copied else "gap"}">{left}{right}</tr>')
    first = " ".join((cp.paragraphs[0][2] if cp.paragraphs else "").split())
    snippet = first if len(first) <= 40 else first[:39] + "…"
    return (
        f'<details class="block" id="ps{view.passage_id}"{" open" if unfold else ""}><summary><b>P{view.passage_id}</b> &middot; '
        f"{view.paragraphs:,} paragraphs, {view.characters:,} characters, similarity {view.similarity:.2f} &middot; "
        f"{e(src.path)}:{line_range(*src.lines)} &rarr; {e(cp.path)}:{line_range(*cp.lines)} &middot; {e(snippet)}</summary>"
        '<div class="body"><table class="passage"><colgroup><col class="where"><col><col class="where"><col></colgroup>'
        '<tr><th></th><th>source</th><th></th><th>copy</th></tr>'
        f'{"".join(rows)}</table></div></details>'
    )


def _passages(data: ReportData) -> str:
    s = data.summary
    cap = (
        f" The {len(data.passages):,} largest of {s.passages:,} are shown (Limits.passages); "
        f"<code>dedup show {e(data.db_name)} --passage ID</code> prints any passage."
        if s.passages > len(data.passages)
        else ""
    )
    parts = [
        '<section id="passages"><h2>Passages</h2>'
        '<p class="note">Runs of consecutive paragraphs copied together from one document into another (or into another '
        "part of the same one), largest first: the source holds the canonicals. Each copied paragraph shows its "
        f"differences from the source's; paragraphs inserted, dropped or rewritten inside the run stand as they are.{cap}</p>"
    ]
    parts += [_passage_html(v, i < OPEN_BLOCKS) for i, v in enumerate(data.passages)]
    if not data.passages:
        parts.append("<p>No run of paragraphs is copied together.</p>")
    parts.append("</section>")
    return "".join(parts)


def _block_html(block: Block, data: ReportData, shown_paragraphs: set[int], unfold: bool = True) -> str:
    v = block.view
    canon = v.members[0]

    def where(m: MemberView) -> str:
        loc = f"{e(m.path)}:{line_range(m.line_start, m.line_end)}"
        return f'<a href="#p{m.paragraph_id}">{loc}</a>' if m.paragraph_id in shown_paragraphs else loc

    copies = []
    for m, segments in block.copies:
        inserted, deleted = edited(segments)
        cosmetic = sum(max(len(s.old), len(s.new)) for s in segments if s.kind in COSMETIC)
        copies.append(
            f'<div class="copy"><div class="meta">{where(m)} &middot; {score(m)} &middot; {inserted:,} inserted, '
            f"{deleted:,} deleted, {cosmetic:,} written otherwise</div>"
            f'<div class="text">{render_segments(segments)}</div></div>'
        )
    if block.hidden:
        copies.append(f'<p class="note">{block.hidden:,} more copies: <code>dedup show {e(data.db_name)} {v.cluster_id}</code></p>')
    flat = " ".join(canon.text.split())
    snippet = flat if len(flat) <= 60 else flat[:59] + "…"
    flag = " &middot; boilerplate" if v.boilerplate else ""
    return (
        f'<details class="block" id="c{v.cluster_id}"{" open" if unfold else ""}><summary><b>#{v.cluster_id}</b> &middot; {len(v.members):,} members in '
        f"{v.n_documents:,} documents{flag} &middot; {e(snippet)}</summary><div class=\"body\">"
        f'<p class="meta">Canonical: {where(canon)} &middot; chosen by {e(v.reason)}</p>'
        f'<div class="text canonical-text">{e(canon.text)}</div>{"".join(copies)}</div></details>'
    )


def _blocks(data: ReportData) -> str:
    s = data.summary
    shown_paragraphs = data.shown_paragraphs
    legend = "".join(f'<span class="k-{k}">{e(KIND_TITLES[k])}</span>' for k in COSMETIC)
    n_reuse = s.clusters - s.boilerplate_clusters
    cap = (
        f" The {len(data.blocks):,} largest of {n_reuse:,} are shown (Limits.clusters), each with at most "
        f"{data.limits.members} copies; <code>dedup show {e(data.db_name)} CLUSTER_ID</code> prints any cluster."
        if n_reuse > len(data.blocks)
        else ""
    )
    parts = [
        '<section id="blocks"><h2>Most reused blocks</h2>'
        f'<p class="note">The canonical (where the text came from, and why that copy is the source), then every copy '
        f"with its differences from it: <del>deleted</del> <ins>inserted</ins>; the same text written otherwise: "
        f'<span class="legend">{legend}</span> (hover for what the canonical has).{cap}</p>'
    ]
    parts += [_block_html(b, data, shown_paragraphs, i < OPEN_BLOCKS) for i, b in enumerate(data.blocks)]
    if not data.blocks:
        parts.append("<p>No text is reused.</p>")
    parts.append("</section>")
    if data.boilerplate_blocks:
        more = (
            f" The {len(data.boilerplate_blocks):,} largest of {s.boilerplate_clusters:,}."
            if s.boilerplate_clusters > len(data.boilerplate_blocks)
            else ""
        )
        parts.append(
            '<section id="boilerplate"><h2>Boilerplate</h2><p class="note">Page furniture: short lines at the same place '
            f"of many pages, on most pages of a site, or repeated within a page; not reuse.{more}</p>"
        )
        parts += [_block_html(b, data, shown_paragraphs, False) for b in data.boilerplate_blocks]
        parts.append("</section>")
    return "".join(parts)


def _views(data: ReportData) -> str:
    shown_clusters = data.shown_clusters
    n_docs = len(data.documents)
    if len(data.views) < n_docs or data.views_cut:
        cap = (
            f"{len(data.views):,} of {n_docs:,} documents, those with most copied text first, at most "
            f"{data.limits.paragraphs:,} paragraphs in all (Limits.documents, Limits.paragraphs); "
            f"<code>dedup show {e(data.db_name)} --doc PATH</code> prints any document."
        )
    else:
        cap = f"All {n_docs:,} documents, those with most copied text first."
    legend = "".join(f'<span class="para s-{s}" style="display:inline;padding:0 6px">{s}</span> ' for s in STATUSES)
    parts = [f'<section id="documents"><h2>Documents</h2><p class="note">{cap} {legend}</p>']
    shown_paragraphs = data.shown_paragraphs
    shown_passages = {pv.passage_id for pv in data.passages}
    for v in data.views:
        rows = []
        sides = [(sp, "copy", sp.copy_lines) for sp in data.spans if sp.copy_doc == v.doc_id]
        sides += [(sp, "source", sp.source_lines) for sp in data.spans if sp.source_doc == v.doc_id]
        for p in v.paragraphs:
            inside = [(sp, side) for sp, side, (first, last) in sides if first <= p.line_start and p.line_end <= last]
            passage = "".join(
                f'<br>{side} of <a href="#ps{sp.passage_id}">P{sp.passage_id}</a>' if sp.passage_id in shown_passages
                else f"<br>{side} of P{sp.passage_id}"
                for sp, side in inside[:3]
            )
            if p.cluster_id is None:
                cluster = ""
            elif p.cluster_id in shown_clusters:
                cluster = f'<a href="#c{p.cluster_id}">#{p.cluster_id}</a>'
            else:
                cluster = f'<span title="not inlined: dedup show {e(data.db_name)} {p.cluster_id}">#{p.cluster_id}</span>'
            label = p.status if p.relation in (None, "canonical") else f"{p.status} ({p.relation} {p.score:.2f})"
            source = ""
            if p.status == "copy":
                loc = f"{e(p.canonical_path)}:{p.canonical_line}"
                source = f'<br>of <a href="#p{p.canonical_id}">{loc}</a>' if p.canonical_id in shown_paragraphs else f"<br>of {loc}"
            rows.append(
                f'<div class="para s-{p.status}" id="p{p.paragraph_id}"><div class="where">line {line_range(p.line_start, p.line_end)}</div>'
                f'<div class="st">{label} {cluster}{source}{passage}</div><div class="text">{e(p.text)}</div></div>'
            )
        cut = data.views_cut.get(v.doc_id)
        if cut:
            rows.append(f'<p class="note">{cut:,} more paragraphs: <code>dedup show {e(data.db_name)} --doc {e(v.path)}</code></p>')
        parts.append(
            f'<details class="block" id="d{v.doc_id}"><summary><b>{e(v.path)}</b> &middot; {status_counts(v.paragraphs)}</summary>'
            f'<div class="body">{"".join(rows)}</div></details>'
        )
    parts.append("</section>")
    return "".join(parts)


def render(data: ReportData) -> str:
    """The whole report as one HTML document (no external resource, no script)."""
    s = data.summary
    title = f"dedup report: {s.root}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>Text reuse in {e(s.root)}</h1><p>{e(data.db_name)} &middot; scan finished {e(data.finished or '')} "
        f"&middot; report by dedup {e(__version__)}</p></header>"
        '<nav><a href="#summary">Summary</a><a href="#charts">Charts</a><a href="#matrix">Who copies whom</a>'
        '<a href="#passages">Passages</a><a href="#blocks">Most reused blocks</a>'
        + ('<a href="#boilerplate">Boilerplate</a>' if data.boilerplate_blocks else "")
        + '<a href="#documents">Documents</a></nav>'
        f"<main>{_headline(data)}{_charts(data)}{_matrix(data)}{_passages(data)}{_blocks(data)}{_views(data)}</main></body></html>\n"
    )


@dataclass(frozen=True)
class Built:
    path: Path
    bytes: int
    note: str  # what the report holds, and what it left out


def build_report(db_path: str | os.PathLike, out: str | os.PathLike, limits: Limits = Limits()) -> Built:
    """Read the scan in ``db_path`` and write its report to ``out`` atomically."""
    db = open_existing(db_path)
    try:
        data = gather(db, limits, db_name=str(db_path))
    finally:
        db.conn.close()
    page = render(data).encode("utf-8")
    out = Path(out)
    write_atomically(out, lambda tmp: tmp.write_bytes(page), "the report", "point --out elsewhere")
    s = data.summary
    note = (
        f"{len(data.blocks):,} of {s.clusters - s.boilerplate_clusters:,} reuse clusters and "
        f"{len(data.views):,} of {s.documents:,} documents inlined"
    )
    return Built(out, len(page), note)
