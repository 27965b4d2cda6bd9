"""Split a document into paragraphs with their line numbers and character offsets.

Two shapes of text occur in scraped dumps:

* one paragraph per line (the usual export of a web page; blank lines between them or not);
* hard-wrapped prose, where a paragraph is a block of lines separated by blank lines.

``split="auto"`` tells them apart per document: it chooses ``blocks`` when the text has at least
two blank-line-separated blocks and the median block holds two lines or more (a hard-wrapped
text), and ``lines`` otherwise. A page with a blank line between every line has blocks of one
line, so both modes give the same answer there; a page with no blank line at all is one block,
so ``lines`` is right for it.

Scraped pages also break paragraphs mid-sentence into short lines (a copy-paste through a
narrow column, a converter that wraps). ``join`` mode (never the default) joins a line to the
next one when it is visibly unfinished: it does not end with terminal punctuation (。.!?;: … closing brackets
or quotes), it holds a clause mark (，,、;) so it is inside a sentence and not a title such as
"讲话篇三", and neither it nor the next line starts a list item ("(二)", "2.", "第三", "-"):
an unfinished line that starts a list item is a heading ("五、强化责任落实,全力维护党的形象").
A blank line always ends a paragraph. ``auto`` does not join, because a truncated copy ("cut
short" by the site) followed by the next paragraph looks exactly the same, and joining the two
loses the copy: on the generated benchmark, joining found 25% of truncated copies instead of
80%. The halves of a broken line are still found, as partial copies (see verify.py).

A paragraph's ``text`` is exactly ``document_text[char_start:char_end]``: leading and trailing
white space is left out of the span, internal newlines of a block are kept.
"""

from __future__ import annotations

import re
import statistics
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


def _lines(text: str) -> Iterator[_Line]:
    """Yield every line with the span of its non-space content."""
    offset = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped_left = raw.lstrip()
        content = stripped_left.rstrip()
        start = offset + (len(raw) - len(stripped_left))
        yield _Line(number, start, start + len(content), not content)
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


def choose_split(blocks: list[list[_Line]]) -> str:
    """``blocks`` for hard-wrapped prose (several blocks, median block of 2+ lines), else ``lines``."""
    if len(blocks) >= 2 and statistics.median(len(b) for b in blocks) >= 2:
        return "blocks"
    return "lines"


_MODES = {"auto": 0, "lines": 1, "blocks": 2}  # as the compiled core numbers them


def paragraph_spans(text: str, mode: str = "auto") -> np.ndarray:
    """The paragraphs of ``split_paragraphs`` as an int64 array of rows (line_start, line_end,
    char_start, char_end): what a scan needs, without an object a paragraph on the compiled core
    (``split_paragraphs`` itself is the reference, and the path of ``join`` mode).

    >>> paragraph_spans("one\\n\\n  two  \\nthree\\n").tolist()
    [[1, 1, 0, 3], [3, 3, 7, 10], [4, 4, 13, 18]]
    """
    from . import compiled

    if mode in _MODES and compiled.available():
        return np.frombuffer(compiled.paragraph_spans(text, _MODES[mode]), dtype=np.int64).reshape(-1, 4)
    return np.array([(p.line_start, p.line_end, p.char_start, p.char_end) for p in split_paragraphs(text, mode)],
                    dtype=np.int64).reshape(-1, 4)


def split_paragraphs(text: str, mode: str = "auto") -> list[Paragraph]:
    """Split ``text`` into paragraphs.

    >>> [p.text for p in split_paragraphs("one\\n\\n  two  \\nthree\\n")]
    ['one', 'two', 'three']
    >>> [p.text for p in split_paragraphs("要抓好落实,确保\\n取得实效。\\n(二)下一步", "join")]
    ['要抓好落实,确保\\n取得实效。', '(二)下一步']
    >>> p = split_paragraphs("a b\\nc d\\n\\ne f\\ng h\\n\\ni j\\nk l")[1]
    >>> (p.text, p.line_start, p.line_end)
    ('e f\\ng h', 4, 5)
    """
    lines = list(_lines(text))
    blocks = _blocks(lines)
    if mode == "auto":
        mode = choose_split(blocks)
    if mode == "lines":
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
