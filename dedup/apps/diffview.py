"""Character-level differences between a copy and its canonical, each labelled by its cause.

Two copies of a paragraph differ in what converters and scrapers do to reused text (another
script, pinyin junk after a character, a placeholder typed ``xx`` here and ``**`` there,
full-width punctuation) and in real edits. ``normalize.py`` already knows the first kind: it is
exactly what the key forgets, one named step each. So this module labels a difference by the
normalization steps that make its two sides equal, and calls it an ``edit`` when no step does:

==============  =================================================================
``same``        identical characters
``script``      equal after ``fold_script`` (traditional vs simplified)
``pinyin``      equal after ``strip_pinyin`` (``關(guān)`` vs ``关``)
``placeholder`` equal after ``fold_placeholders`` (``xx`` vs ``**`` vs ``某``)
``format``      equal after the other steps (width, case, punctuation, spaces, HTML)
``edit``        still different in the key: inserted, deleted or changed text
==============  =================================================================

A reader can then trust that whatever is not marked ``edit`` is the same text, and a reviewer
deleting copies sees at a glance which ones were rewritten.

Alignment runs on characters folded the cheap way (NFKC, lowercase, traditional -> simplified,
one character at a time), not on raw characters: a traditional copy of a simplified paragraph
then aligns character for character, and its script differences never push a real edit out of
place. Everything here is a pure function of two strings.

    >>> [(s.kind, s.old, s.new) for s in diff("关于疫情防控，xx同志指出", "關(guān)于疫情防控，**同志指出了")]
    [('script', '关', '關'), ('pinyin', '', '(guān)'), ('same', '于疫情防控，', '于疫情防控，'), ('placeholder', 'xx', '**'), ('same', '同志指出', '同志指出'), ('edit', '', '了')]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher

from ..text.normalize import DEFAULT_STEPS, fold_script, lowercase, nfkc, normalize

__all__ = ["KINDS", "COSMETIC", "Segment", "diff", "tally", "edited", "plain", "align_paragraphs"]

KINDS = ("same", "edit", "script", "pinyin", "placeholder", "format")
"""Every label a segment can carry."""

COSMETIC = ("script", "pinyin", "placeholder", "format")
"""The differences that leave the key unchanged: the same text, written otherwise."""

# The normalization step behind each named kind of cosmetic difference; what the other steps
# remove (NFKC, HTML, case, punctuation) is "format". Checked in this order: a span that needs
# several (關(guān) against 关 needs pinyin and script) carries the first.
_STEP_KIND = (("fold_placeholders", "placeholder"), ("strip_pinyin", "pinyin"), ("fold_script", "script"))

# Above this many characters on both sides (product), SequenceMatcher's quadratic worst case
# would cost seconds; its "autojunk" heuristic then keeps it fast at a small cost in alignment.
_EXACT_ALIGNMENT_LIMIT = 4_000_000


@dataclass(frozen=True)
class Segment:
    """A stretch of the alignment: ``old`` in the canonical, ``new`` in the copy."""

    kind: str
    old: str
    new: str

    @property
    def op(self) -> str:
        """``equal``, ``insert`` (only in the copy), ``delete`` (only in the canonical), ``replace``."""
        if self.old == self.new:
            return "equal"
        if not self.old:
            return "insert"
        return "delete" if not self.new else "replace"


def _fold_chars(text: str) -> list[str]:
    """One alignment key per character: NFKC, lowercase and t2s of that character alone.

    OpenCC converts a whole text far faster than character by character; when that keeps the
    length (nearly always: t2s maps characters one to one, phrases included) the converted text
    gives every character's key. Otherwise each character is converted on its own.
    """
    folded = fold_script(text)
    if len(folded) != len(text):
        folded = "".join(fold_script(c) if len(fold_script(c)) == 1 else c for c in text)
    return [lowercase(nfkc(c)) for c in folded]


def _label(old: str, new: str, before: str, after: str) -> str:
    """The kind of a differing span, judged with one character of the canonical on each side.

    Context matters to two steps: pinyin junk is junk only right after a character, and ``x`` is
    a placeholder only when no letter touches it (``x86`` is not one). Both sides get the same
    context (the canonical's), so the context itself never makes a difference.
    """
    a, b = before + old + after, before + new + after
    if normalize(a) != normalize(b):
        return "edit"
    for step, kind in _STEP_KIND:
        without = tuple(s for s in DEFAULT_STEPS if s != step)
        if normalize(a, without) != normalize(b, without):
            return kind
    return "format"


def diff(old: str, new: str) -> list[Segment]:
    """The differences of ``new`` (a copy) from ``old`` (its canonical), as labelled segments.

    Joining the ``old`` of every segment gives ``old`` back, and joining the ``new`` gives
    ``new``; neighbouring segments of one kind are merged.

        >>> [(s.kind, s.op) for s in diff("在全县会议上", "在全縣會議上的讲话")]
        [('same', 'equal'), ('script', 'replace'), ('same', 'equal'), ('edit', 'insert')]
    """
    ka, kb = _fold_chars(old), _fold_chars(new)
    matcher = SequenceMatcher(None, ka, kb, autojunk=len(ka) * len(kb) > _EXACT_ALIGNMENT_LIMIT)
    segments: list[Segment] = []

    def add(kind: str, a: str, b: str) -> None:
        if not a and not b:
            return
        if segments and segments[-1].kind == kind:
            last = segments.pop()
            a, b = last.old + a, last.new + b
        segments.append(Segment(kind, a, b))

    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            # Equal keys: each character is the same or a cosmetic variant (script, width, case).
            i = i1
            while i < i2:
                j = j1 + (i - i1)
                same = old[i] == new[j]
                k = i + 1
                while k < i2 and (old[k] == new[j1 + k - i1]) == same:
                    k += 1
                a, b = old[i:k], new[j : j1 + k - i1]
                if same:
                    add("same", a, b)
                else:
                    add("script" if lowercase(nfkc(a)) != lowercase(nfkc(b)) else "format", a, b)
                i = k
        else:
            before = old[i1 - 1] if i1 > 0 else ""
            after = old[i2] if i2 < len(old) else ""
            add(_label(old[i1:i2], new[j1:j2], before, after), old[i1:i2], new[j1:j2])
    return _absorb_islands(segments)


def _absorb_islands(segments: list[Segment]) -> list[Segment]:
    """Fold a short stretch of identical text between two edits into one edit.

    Inside a rewritten passage the alignment still matches a stray common character here and
    there (``的``, ``。``), which would chop one replacement into many. As diff-match-patch's
    semantic cleanup does, an equality no longer than the edits on both sides of it goes.
    """
    size = lambda s: max(len(s.old), len(s.new))  # noqa: E731
    out: list[Segment] = []
    for seg in segments:
        if seg.kind == "edit" and len(out) >= 2 and out[-1].kind == "same" and out[-2].kind == "edit":
            island = out[-1]
            if size(island) <= min(size(out[-2]), size(seg)):
                out.pop()
                first = out.pop()
                seg = Segment("edit", first.old + island.old + seg.old, first.new + island.new + seg.new)
        if out and out[-1].kind == seg.kind:
            last = out.pop()
            seg = Segment(seg.kind, last.old + seg.old, last.new + seg.new)
        out.append(seg)
    return out


def tally(segments: list[Segment]) -> Counter:
    """Characters of the copy's text (of the canonical's, for a deletion) in each kind of segment.

        >>> sorted(tally(diff("xx同志", "**同志们")).items())
        [('edit', 1), ('placeholder', 2), ('same', 2)]
    """
    counts: Counter = Counter()
    for s in segments:
        counts[s.kind] += max(len(s.old), len(s.new))
    return counts


def edited(segments: list[Segment]) -> tuple[int, int]:
    """(characters inserted, characters deleted) by real edits.

        >>> edited(diff("第一次会议", "第一次全体会议"))
        (2, 0)
    """
    return sum(len(s.new) for s in segments if s.kind == "edit"), sum(len(s.old) for s in segments if s.kind == "edit")


def plain(segments: list[Segment]) -> str:
    """The copy as text, its real edits marked as ``[-deleted-]{+inserted+}`` (a word diff).

    Cosmetic differences are not marked: the copy's own characters stand, so dropping the
    markers and the deleted text gives the copy back.

        >>> plain(diff("第一，进一步压实责任", "第一，進一步壓實了責任"))
        '第一，進一步壓實{+了+}責任'
    """
    out = []
    for s in segments:
        if s.kind != "edit":
            out.append(s.new)
            continue
        if s.old:
            out.append(f"[-{s.old}-]")
        if s.new:
            out.append(f"{{+{s.new}+}}")
    return "".join(out)


def align_paragraphs(old: list, new: list) -> list[tuple[int | None, int | None, bool]]:
    """The two sides of a passage paragraph by paragraph: ``old`` and ``new`` are the cluster ids
    of their paragraphs (None: in no cluster, never matched), the result is ``(i, j, copied)``
    rows in order, where ``copied`` says the two are in the same cluster. Paragraphs between two
    copied ones are paired off as far as both sides have some (a paragraph changed beyond the
    threshold); the rest stand alone, ``i`` or ``j`` None (inserted or dropped).

        >>> align_paragraphs([1, 2, None, 3], [1, 7, 3, 4])
        [(0, 0, True), (1, 1, False), (2, None, False), (3, 2, True), (None, 3, False)]
    """
    a = [("old", i) if c is None else c for i, c in enumerate(old)]
    b = [("new", j) if c is None else c for j, c in enumerate(new)]
    rows: list[tuple[int | None, int | None, bool]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows.extend((i1 + k, j1 + k, True) for k in range(i2 - i1))
            continue
        paired = min(i2 - i1, j2 - j1)
        rows.extend((i1 + k, j1 + k, False) for k in range(paired))
        rows.extend((i, None, False) for i in range(i1 + paired, i2))
        rows.extend((None, j, False) for j in range(j1 + paired, j2))
    return rows
