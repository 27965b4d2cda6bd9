"""Split a document into paragraphs with their line numbers and character offsets.

Two shapes of text occur in scraped dumps, often in one document:

* one paragraph per line (the usual export of a web page; blank lines between them or not);
* hard-wrapped prose, where a paragraph is a run of lines cut at a fixed width (licences,
  e-mail, READMEs, plain-text books), its paragraphs separated by blank lines or not.

``split="auto"`` tells them apart run by run (``auto_groups``). A block (lines between blank
lines; a line holding only white space is blank) is first cut at the lines that start
something of their own: a ``Key: value`` field, a list item ("- ", "* ", "1. ", "a) ",
"(一)", "一、"), and a line without a letter or digit (a separator such as deb822's " ." or
"---"), which stays a paragraph by itself. In each such run, a line break is a *wrap* when the
next line visibly continues the line before it:

* the sentence goes on: the line does not end a sentence (. ! ? : … 。！？：) or a wide
  character, and the next one starts with a lowercase letter; or
* the line is full: the next line's first word would not have fitted after it within the
  run's width W (greedy wrapping), or, for spaced text, it reaches 85% of W; and it ends
  inside a sentence (on a letter, digit, comma or hyphen), or the next line is full too
  (a wrapped line may end a sentence). W is the upper quartile of the widths (display
  columns: a Han character is two) of the run's lines with two words or more, and only
  counts between 40 and 100 columns: text wider than 100 columns was not wrapped by hand.

Width is only evidence when two lines reach it, each followed by a line that fits it too;
with one full line (a title over a sentence, a two-line block) the line must end in a
lowercase letter, or in a comma or hyphen that does not follow a wide character (Chinese
text hard-wrapped at W fills every line but the last; a cut-short paragraph over the next
one does not). A break is never a wrap between lines that begin with the same capitalized
word ("Copyright ..." lines), when either line is wider than 100 columns, or after a line of
one word (a path, a name). A run whose breaks from its first wrap to its last are at least
half wraps is prose: those lines are one paragraph (the lines before the first wrap, a
heading or a field name, and after the last stay lines). Everything else is one paragraph
per line. A marker of 1-3 symbols and a space that begins two lines in a row or more (" * "
of a comment, "> " of a quote) is ignored while deciding: deb822's "License: X" over a
licence in a C comment is a field and one paragraph.

So a page with one paragraph per line keeps one per line, long or short lines alike, with or
without blank lines between them (web-page lines are not cut at a fixed width, and a Chinese
line of 60 characters is 120 columns); a hard-wrapped licence is one paragraph per paragraph
even in a file where most blocks are one-line fields (Debian's copyright files); and a block
of a field name, a wrapped licence paragraph and a deb822 " ." separator gives all three.

``lines`` and ``blocks`` force one paragraph per line, or per block. Scraped pages also break
paragraphs mid-sentence into short lines (a copy-paste through a narrow column, a converter
that wraps). ``join`` mode (never the default) joins a line to the next one when it is visibly
unfinished: it does not end with terminal punctuation (。.!?;: … closing brackets or quotes),
it holds a clause mark (，,、;) so it is inside a sentence and not a title such as "讲话篇三",
and neither it nor the next line starts a list item ("(二)", "2.", "第三", "-"): an unfinished
line that starts a list item is a heading ("五、强化责任落实,全力维护党的形象"). A blank line
always ends a paragraph. ``auto`` does not join such lines (they are far wider than 100
columns, or not full), because a truncated copy ("cut short" by the site) followed by the next
paragraph looks exactly the same, and joining the two loses the copy: on the generated
benchmark, joining found 25% of truncated copies instead of 80%. The halves of a broken line
are still found, as partial copies (see verify.py).

A paragraph's ``text`` is exactly ``document_text[char_start:char_end]``: leading and trailing
white space is left out of the span, internal newlines of a block are kept. The compiled core
(``_core.c``, ``paragraph_spans``) holds a copy of these rules; tests compare the two.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterator

import numpy as np


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of a document; lines are 1-based, offsets index the decoded text."""

    idx: int
    line_start: int
    line_end: int
    char_start: int
    char_end: int
    text: str


@dataclass(frozen=True)
class _Line:
    number: int  # 1-based
    start: int  # offset of the first non-space character
    end: int  # offset one past the last non-space character
    blank: bool
    begin: int = 0  # offset of the line's first character (its indentation included)


def _lines(text: str) -> Iterator[_Line]:
    """Yield every line with the span of its non-space content."""
    offset = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped_left = raw.lstrip()
        content = stripped_left.rstrip()
        start = offset + (len(raw) - len(stripped_left))
        yield _Line(number, start, start + len(content), not content, offset)
        offset += len(raw) + 1


def _blocks(lines: list[_Line]) -> list[list[_Line]]:
    """Group non-blank lines into runs separated by blank lines."""
    blocks: list[list[_Line]] = []
    current: list[_Line] = []
    for line in lines:
        if line.blank:
            if current:
                blocks.append(current)
                current = []
        else:
            current.append(line)
    if current:
        blocks.append(current)
    return blocks


_TERMINAL = set("。．.！!？?；;：:…‥")
_CLAUSE = re.compile(r"[，,、；;]")
_LIST_ITEM = re.compile(
    r"^(?:[(（]?[一二三四五六七八九十百\d]+[)）、.．]|第[一二三四五六七八九十百\d]+|[-*•·#>]|[a-zA-Z][.)]\s)"
)


def is_unfinished(line: str) -> bool:
    """True for a line cut mid-sentence: no terminal punctuation at its end, a clause mark inside.

    >>> is_unfinished("各單位要在前期工作基礎上,進一步")
    True
    >>> is_unfinished("在集團公司疫情防控工作視頻會議上的講話篇三"), is_unfinished("做好防控工作。")
    (False, False)
    """
    last = line[-1]
    if last in _TERMINAL or unicodedata.category(last) in ("Pe", "Pf"):
        return False
    return bool(_CLAUSE.search(line))


def _join_broken(block: list[_Line], text: str) -> list[list[_Line]]:
    """Group the lines of a block into paragraphs, joining lines broken mid-sentence."""
    groups: list[list[_Line]] = []
    for line in block:
        if groups:
            previous = groups[-1][-1]
            before, content = text[previous.start : previous.end], text[line.start : line.end]
            if is_unfinished(before) and not _LIST_ITEM.match(before) and not _LIST_ITEM.match(content):
                groups[-1].append(line)
                continue
        groups.append([line])
    return groups


# ---- auto: hard-wrapped prose or one paragraph a line, decided run by run (module docstring) ----

WRAP_MIN, WRAP_MAX = 40, 100  # display columns between which a hand-made wrap width falls
NEAR_FULL = 85  # percent of the width at which a line of spaced text is full
TAB = 8
# the wide scripts (two columns a character): Hangul Jamo, CJK symbols and punctuation, kana,
# Han, Yi, Hangul syllables, compatibility ideographs and forms, full-width forms, planes 2-3
_WIDE = ((0x1100, 0x115F), (0x2E80, 0x303E), (0x3041, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
         (0xA000, 0xA4CF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFF60),
         (0xFFE0, 0xFFE6), (0x20000, 0x3FFFD))
_SENTENCE_END = set(".!?…:。！？：")
_OPEN_END = set(",，、-")  # a line ending on these (or a letter or digit) ends inside a sentence
_BULLETS = set("-*•·+>#–—=")  # 1-3 of one of them and a space start a list item
_MARKS = set("*#>|/;%-+=!~•·")  # 1-3 of them and a space on every line: a comment or quote prefix
_NUMERALS = set("一二三四五六七八九十百")


_WIDE_RE = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _WIDE) + "]")
_SPACE_OR_WIDE_RE = re.compile(r"\s|" + _WIDE_RE.pattern)


def is_wide(ch: str) -> bool:
    """True for a character of the wide scripts (two display columns).

    >>> is_wide("漢"), is_wide("，"), is_wide("a"), is_wide("é")
    (True, True, False, False)
    """
    return _WIDE_RE.match(ch) is not None


def columns(text: str, start: int = 0, end: int | None = None) -> int:
    """Display width of ``text[start:end]``: two columns a wide character, tabs to the next
    multiple of 8, one column for anything else.

    >>> columns("ab\\t漢字")
    12
    """
    part = text[start:end]
    if "\t" not in part:
        return len(part) + len(_WIDE_RE.findall(part))
    width = 0
    for ch in part:
        width = (width // TAB + 1) * TAB if ch == "\t" else width + (2 if is_wide(ch) else 1)
    return width


def _marker(text: str, begin: int, end: int) -> tuple[str, int] | None:
    """The comment or quote marker at the start of a line (1-3 of ``_MARKS`` after the
    indentation, then white space or the line's end) and the offset after it, or None."""
    i = begin
    while i < end and text[i].isspace():
        i += 1
    j = i
    while j < end and j - i < 3 and text[j] in _MARKS:
        j += 1
    if j == i or (j < end and not text[j].isspace()):
        return None
    return text[i:j], j


def _is_field(body: str) -> bool:
    """``Key: value``: a word that does not start in lowercase, then a colon and a space (or
    the line's end: a Chinese "要求：" inside wrapped text is no field).

    >>> _is_field("Copyright: 2010 Google"), _is_field("License:"), _is_field("作者：")
    (True, True, True)
    >>> _is_field("following:"), _is_field("Note that: x"), _is_field("http://x")
    (False, False, False)
    """
    if not body[0].isalpha() or body[0].islower():
        return False
    j = 1
    while j < len(body) and (body[j].isalnum() or body[j] in "-_"):
        j += 1
    return j < len(body) and body[j] in ":：" and (j + 1 == len(body) or body[j + 1].isspace())


def _is_list_item(body: str) -> bool:
    """A list item: 1-3 of one bullet and a space, or a number or letter closed by . or ) and
    a space, or a Chinese numeral closed by 、 or ）.

    >>> [_is_list_item(x) for x in ["- a", "** b", "1. c", "(a) d", "c) e", "一、f", "（二）g"]]
    [True, True, True, True, True, True, True]
    >>> [_is_list_item(x) for x in ["-x", "2.1 of", "Inc. x", "1234. x", "you. For"]]
    [False, False, False, False, False]
    """
    n = len(body)
    if body[0] in _BULLETS:
        j = 1
        while j < n and j < 3 and body[j] == body[0]:
            j += 1
        return j < n and body[j].isspace()
    j = 1 if body[0] in "(（" else 0
    k = j
    if k < n and body[k].isdecimal():
        while k < n and k - j < 3 and body[k].isdecimal():
            k += 1
    elif k < n and body[k] in _NUMERALS:
        while k < n and body[k] in _NUMERALS:
            k += 1
    elif k < n and body[k].isascii() and body[k].isalpha():
        k += 1
    if k == j or k >= n:
        return False
    if body[k] in ".)":
        return k + 1 < n and body[k + 1].isspace()
    return body[k] in "）、．"


_WORD_CHAR_RE = re.compile(r"[^\W_]")  # what str.isalnum() accepts


def _has_word(body: str) -> bool:
    return _WORD_CHAR_RE.search(body) is not None


def _starts_unit(body: str) -> bool:
    """A line that begins a paragraph of its own: a separator, a field or a list item."""
    return not _has_word(body) or _is_field(body) or _is_list_item(body)


def _wordy(body: str) -> bool:
    """Two words or more (or wide characters, which are words of their own)."""
    return _SPACE_OR_WIDE_RE.search(body) is not None


def _first_word(body: str) -> str:
    """The first word: up to the first space, or the first wide character."""
    for i, ch in enumerate(body):
        if ch.isspace():
            return body[:i]
        if is_wide(ch):
            return body[: i + 1]
    return body


def _parallel(a: str, b: str) -> bool:
    """Lines of a list, not of prose: the same first word, capitalized (not an all-caps word of
    a shouted disclaimer), or the same first two words.

    >>> _parallel("Copyright 2004 A", "Copyright 2005 B"), _parallel("the terms x", "the law y")
    (True, False)
    >>> _parallel("IN CONNECTION WITH", "IN THE SOFTWARE."), _parallel("libpng versions 1", "libpng versions 2")
    (False, True)
    """
    x, y = a.split(), b.split()
    if x[0] != y[0]:
        return False
    word = x[0]
    return (not word[0].islower() and not (word.isalpha() and word.isupper())) or x[1:2] == y[1:2]


def _wraps(bodies: list[str], ends: list[int]) -> list[bool]:
    """Whether each line break of a run is a wrap, and which lines are narrow enough to be
    wrapped at all (see the module docstring)."""
    n = len(bodies)
    wordy = [_wordy(b) for b in bodies]
    narrow = [e <= WRAP_MAX or not w for e, w in zip(ends, wordy)]
    no = [False] * (n - 1)
    widths = sorted((ends[i] for i in range(n - 1) if wordy[i] and narrow[i]), reverse=True)
    n_wordy = sum(wordy[: n - 1])
    if not widths or 2 * len(widths) < n_wordy:
        return no
    width = widths[(len(widths) - 1) // 4]
    if width < WRAP_MIN:
        return no
    full = []
    for i in range(n - 1):
        cur, nxt = bodies[i], bodies[i + 1]
        gap = 0 if is_wide(cur[-1]) or is_wide(nxt[0]) else 1
        full.append(ends[i] + gap + columns(_first_word(nxt)) > width
                    or (not is_wide(nxt[0]) and 100 * ends[i] >= NEAR_FULL * width))
    # a full line is evidence of the width when the line after it fits the width too
    attested = sum(full[i] and narrow[i] and narrow[i + 1] and wordy[i] for i in range(n - 1)) >= 2
    sentences = 2 * sum(wordy[i] and bodies[i][-1] in _SENTENCE_END for i in range(n - 1)) > n_wordy
    out = []
    for i in range(n - 1):
        cur, nxt = bodies[i], bodies[i + 1]
        if not (narrow[i] and narrow[i + 1] and wordy[i]) or _parallel(cur, nxt):
            out.append(False)
            continue
        # a sentence goes on in lowercase (not after a wide character: "关(guān)" junk is lowercase)
        goes_on = not is_wide(cur[-1]) and cur[-1] not in _SENTENCE_END and nxt[0].islower()
        if attested:
            inside = not sentences and i + 1 < n - 1 and full[i + 1]
            ends_open = cur[-1].isalnum() or cur[-1] in _OPEN_END
            out.append(goes_on or (full[i] and (ends_open or inside)))
        else:
            # cut after a lowercase word or a comma ("located in file", "2010,"), not after a
            # title or a Chinese clause: a title over a line, a cut-short paragraph over the next
            lower_end = cur[-1].islower() or (cur[-1] in ",-" and len(cur) > 1 and not is_wide(cur[-2]))
            out.append(goes_on or (full[i] and lower_end))
    return out


def auto_groups(text: str, block: list[_Line]) -> list[list[_Line]]:
    """The paragraphs of one block under ``auto``: runs of wrapped lines, other lines alone."""
    markers = [_marker(text, line.begin, line.end) for line in block]
    bodies = []
    for i, (m, line) in enumerate(zip(markers, block)):
        # a marker that the line before or after repeats is a prefix: " * " of a comment
        shared = m is not None and any(0 <= j < len(block) and markers[j] is not None and markers[j][0] == m[0] for j in (i - 1, i + 1))
        bodies.append(text[m[1] : line.end].strip() if shared else text[line.start : line.end])
    ends = [columns(text, line.begin, line.end) for line in block]
    runs: list[list[int]] = []
    for i, body in enumerate(bodies):
        if not runs or _starts_unit(body) or not _has_word(bodies[i - 1]):
            runs.append([])
        runs[-1].append(i)
    groups: list[list[int]] = []
    for run in runs:
        wraps = _wraps([bodies[i] for i in run], [ends[i] for i in run]) if len(run) > 1 else []
        if True not in wraps:
            groups.extend([i] for i in run)
            continue
        first, last = wraps.index(True), len(wraps) - 1 - wraps[::-1].index(True)
        if 2 * sum(wraps[first : last + 1]) < last + 1 - first:
            groups.extend([i] for i in run)
            continue
        wide_line = [ends[i] > WRAP_MAX and _wordy(bodies[i]) for i in run]
        groups.extend([i] for i in run[:first])
        groups.append([run[first]])
        for k in range(first, last + 1):  # one paragraph, cut only around lines too wide to be wrapped
            if wraps[k] or not (wide_line[k] or wide_line[k + 1]):
                groups[-1].append(run[k + 1])
            else:
                groups.append([run[k + 1]])
        groups.extend([i] for i in run[last + 2 :])
    return [[block[i] for i in group] for group in groups]


SPLIT_MODES = {"auto": 0, "lines": 1, "blocks": 2}  # as the compiled core numbers them


def paragraph_splitter(mode: str = "auto"):
    """``paragraph_spans`` with ``mode`` and the choice of the core made once: a text -> rows
    function for a stream of many small texts (``dedup filter``'s records)."""
    from .. import compiled

    if mode in SPLIT_MODES and compiled.available():
        core, number = compiled._core_module().paragraph_spans, SPLIT_MODES[mode]
        return lambda text: np.frombuffer(core(text, number), dtype=np.int64).reshape(-1, 4)
    return lambda text: paragraph_spans(text, mode)


def paragraph_spans(text: str, mode: str = "auto") -> np.ndarray:
    """The paragraphs of ``split_paragraphs`` as an int64 array of rows (line_start, line_end,
    char_start, char_end): what a scan needs, without an object a paragraph on the compiled core
    (``split_paragraphs`` itself is the reference, and the path of ``join`` mode).

    >>> paragraph_spans("one\\n\\n  two  \\nthree\\n").tolist()
    [[1, 1, 0, 3], [3, 3, 7, 10], [4, 4, 13, 18]]
    """
    from .. import compiled

    if mode in SPLIT_MODES and compiled.available():
        return np.frombuffer(compiled.paragraph_spans(text, SPLIT_MODES[mode]), dtype=np.int64).reshape(-1, 4)
    return np.array([(p.line_start, p.line_end, p.char_start, p.char_end) for p in split_paragraphs(text, mode)],
                    dtype=np.int64).reshape(-1, 4)


def split_paragraphs(text: str, mode: str = "auto") -> list[Paragraph]:
    """Split ``text`` into paragraphs.

    >>> [p.text for p in split_paragraphs("one\\n\\n  two  \\nthree\\n")]
    ['one', 'two', 'three']
    >>> [p.text for p in split_paragraphs("要抓好落实,确保\\n取得实效。\\n(二)下一步", "join")]
    ['要抓好落实,确保\\n取得实效。', '(二)下一步']
    >>> wrapped = "Files: *\\nLicense: GPL-2+\\n This program is free software; you can redistribute it\\n and/or modify it under the terms of the GNU General Public License."
    >>> [(p.text, p.line_start, p.line_end) for p in split_paragraphs(wrapped)][1:]
    [('License: GPL-2+', 2, 2), ('This program is free software; you can redistribute it\\n and/or modify it under the terms of the GNU General Public License.', 3, 4)]
    """
    lines = list(_lines(text))
    blocks = _blocks(lines)
    if mode == "auto":
        groups = [group for block in blocks for group in auto_groups(text, block)]
    elif mode == "lines":
        groups = [[line] for block in blocks for line in block]
    elif mode == "join":
        groups = [group for block in blocks for group in _join_broken(block, text)]
    elif mode == "blocks":
        groups = blocks
    else:
        raise ValueError(f"unknown split mode {mode!r}")
    return [
        Paragraph(
            idx=idx,
            line_start=group[0].number,
            line_end=group[-1].number,
            char_start=group[0].start,
            char_end=group[-1].end,
            text=text[group[0].start : group[-1].end],
        )
        for idx, group in enumerate(groups)
    ]
