"""What ``dedup show`` prints: a cluster as character diffs, a document as paragraph statuses, a
passage as its two sides aligned paragraph by paragraph.

Plain functions from the views of ``summary.py`` to lines of text. Colour comes from a ``style``
callable with ``click.style``'s signature, passed in by the CLI, so this module needs no click
and tests can pass their own. Real edits are readable without colour too: they carry
``[-deleted-]{+inserted+}`` markers (as ``git diff --word-diff`` does); cosmetic differences
(script, pinyin junk, placeholders, punctuation) are coloured only, and counted on a line of
their own, so a traditional-script copy does not drown in markers.
"""

from __future__ import annotations

from typing import Callable

from .diffview import COSMETIC, Segment, align_paragraphs, diff, edited, tally
from ..store.summary import STATUSES, ClusterView, DocumentView, MemberView, ParagraphStatus, PassageView

Style = Callable[..., str]

# Colour of each kind of difference and of each paragraph status (click.style keywords).
KIND_STYLE = {
    "script": {"fg": "cyan"},
    "pinyin": {"fg": "magenta"},
    "placeholder": {"fg": "yellow"},
    "format": {"dim": True},
}
STATUS_STYLE = {
    "unique": {},
    "canonical": {"fg": "green", "bold": True},
    "copy": {"fg": "yellow"},
    "boilerplate": {"dim": True},
}
KIND_WORDS = {"script": "script", "pinyin": "pinyin junk", "placeholder": "placeholders", "format": "punctuation/width/case"}


def no_style(text: str, **_: object) -> str:
    """The ``style`` to pass for plain text."""
    return text


def marked(segments: list[Segment], style: Style = no_style) -> str:
    """The copy with its edits marked ``[-old-]{+new+}`` and every kind of difference styled."""
    out = []
    for s in segments:
        if s.kind == "same":
            out.append(s.new)
        elif s.kind == "edit":
            if s.old:
                out.append(style(f"[-{s.old}-]", fg="red", strikethrough=True))
            if s.new:
                out.append(style(f"{{+{s.new}+}}", fg="green", bold=True))
        else:
            out.append(style(s.new, **KIND_STYLE[s.kind]) if s.new else "")
    return "".join(out)


def describe(segments: list[Segment]) -> str:
    """One line: how many characters were inserted and deleted, and the cosmetic differences.

        >>> describe(diff("关于xx同志", "關於**同志们"))
        '1 inserted, 0 deleted; also script 2, placeholders 2'
    """
    if all(s.kind == "same" for s in segments):
        return "identical"
    counts = tally(segments)
    inserted, deleted = edited(segments)
    parts = [f"{inserted:,} inserted, {deleted:,} deleted"] if inserted or deleted else ["no edit"]
    cosmetic = [f"{KIND_WORDS[k]} {counts[k]:,}" for k in COSMETIC if counts[k]]
    return parts[0] + ("; also " + ", ".join(cosmetic) if cosmetic else "")


def line_range(first: int, last: int) -> str:
    """``12`` or ``12-14``."""
    return f"{first}" if first == last else f"{first}-{last}"


def score(m: MemberView) -> str:
    """A member's relation and similarity (and containment, for a partial copy)."""
    if m.relation == "contained":
        return f"contained {m.containment:.3f}, Jaccard {m.similarity:.3f}"
    return f"{m.relation} {m.similarity:.3f}"


def format_cluster(view: ClusterView, style: Style = no_style) -> list[str]:
    """The canonical in full, then every copy as its differences from the canonical."""
    kind = "  [boilerplate: page furniture]" if view.boilerplate else ""
    out = [
        f"Cluster {view.cluster_id}: {len(view.members)} members in {view.n_documents} documents{kind}",
        f"Canonical chosen by {view.reason}",
    ]
    canonical = view.members[0].text
    for m in view.members:
        out += ["", f"[{score(m)}] {m.path}:{line_range(m.line_start, m.line_end)}  (paragraph {m.paragraph_id})"]
        if m.relation == "canonical":
            out.append(f"  {style(m.text, bold=True)}")
            continue
        segments = diff(canonical, m.text)
        out += [f"  {marked(segments, style)}", "  " + style(f"({describe(segments)})", dim=True)]
    if len(view.members) > 1:
        legend = ", ".join(style(KIND_WORDS[k], **KIND_STYLE[k]) for k in COSMETIC)
        out += ["", f"Copies show [-deleted-]{{+inserted+}} text; same text written otherwise: {legend}"]
    return out


def status_label(p: ParagraphStatus) -> str:
    """``unique``, ``canonical``, ``copy near 0.96``, ``boilerplate exact 1.00``."""
    if p.status in ("copy", "boilerplate") and p.relation != "canonical":
        return f"{p.status} {p.relation} {p.score:.2f}"
    return p.status


def status_counts(paragraphs: list[ParagraphStatus]) -> str:
    """``47 unique, 30 canonical, 35 copies, 2 boilerplate`` (statuses that occur)."""
    counts = {s: 0 for s in STATUSES}
    for p in paragraphs:
        counts[p.status] += 1
    plural = {"copy": "copies"}
    return ", ".join(f"{n:,} {plural.get(s, s) if n != 1 else s}" for s, n in counts.items() if n)


def format_document(view: DocumentView, style: Style = no_style, width: int = 40) -> list[str]:
    """A header counting each status, then one line per paragraph: lines, status, cluster, text."""
    total = f"{len(view.paragraphs):,} paragraph" + ("" if len(view.paragraphs) == 1 else "s")
    out = [f"Document {view.path}: {total}: {status_counts(view.paragraphs)}"]
    out.append(f"  {'lines':<9} {'status':<22} {'cluster':<8} text")
    for p in view.paragraphs:
        flat = " ".join(p.text.split())
        snippet = flat if len(flat) <= width else flat[: width - 1] + "…"
        label = status_label(p)
        where = f"  (of {p.canonical_path}:{p.canonical_line})" if p.status == "copy" else ""
        cluster = f"#{p.cluster_id}" if p.cluster_id is not None else ""
        out.append(
            f"  {line_range(p.line_start, p.line_end):<9} {style(f'{label:<22}', **STATUS_STYLE[p.status])} {cluster:<8} {snippet}{where}"
        )
    return out


def format_passage(view: PassageView, style: Style = no_style) -> list[str]:
    """Both sides of a passage paragraph by paragraph: each copied paragraph as its differences
    from the source's (as ``format_cluster`` shows a copy), and the paragraphs inserted, dropped
    or changed beyond the threshold as they stand."""
    src, cp = view.source, view.copy
    out = [
        f"Passage {view.passage_id}: {view.paragraphs:,} paragraphs copied ({view.characters:,} characters, similarity {view.similarity:.3f})",
        f"  source {src.path}:{line_range(*src.lines)}",
        f"  copy   {cp.path}:{line_range(*cp.lines)}",
    ]
    rows = align_paragraphs([p[3] for p in src.paragraphs], [p[3] for p in cp.paragraphs])
    for i, j, copied in rows:
        s = src.paragraphs[i] if i is not None else None
        c = cp.paragraphs[j] if j is not None else None
        where = f"{line_range(*s[:2]) if s else '-':>9} -> {line_range(*c[:2]) if c else '-':<9}"
        if s and c:
            segments = diff(s[2], c[2])
            label = describe(segments) if copied else "changed beyond the threshold: " + describe(segments)
            out += ["", f"{where} {style(f'({label})', dim=True)}", f"  {marked(segments, style)}"]
        elif s:
            out += ["", f"{where} {style('(only in the source)', dim=True)}", f"  {style(s[2], fg='red')}"]
        else:
            out += ["", f"{where} {style('(only in the copy)', dim=True)}", f"  {style(c[2], fg='green')}"]
    legend = ", ".join(style(KIND_WORDS[k], **KIND_STYLE[k]) for k in COSMETIC)
    out += ["", f"Copies show [-deleted-]{{+inserted+}} text against the source; same text written otherwise: {legend}"]
    return out
