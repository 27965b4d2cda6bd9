"""Split a document into paragraphs with their line numbers and character offsets.

Two shapes of text occur in scraped dumps:

* one paragraph per line (the usual export of a web page; blank lines between them or not);
* hard-wrapped prose, where a paragraph is a block of lines separated by blank lines.

``split="auto"`` tells them apart per document: it chooses ``blocks`` when the text has at least
two blank-line-separated blocks and the median block holds two lines or more (a hard-wrapped
text), and ``lines`` otherwise. A page with a blank line between every line has blocks of one
line, so both modes give the same answer there; a page with no blank line at all is one block,
so ``lines`` is right for it.

A paragraph's ``text`` is exactly ``document_text[char_start:char_end]``: leading and trailing
white space is left out of the span, internal newlines of a block are kept.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Iterator


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


def choose_split(blocks: list[list[_Line]]) -> str:
    """``blocks`` for hard-wrapped prose (several blocks, median block of 2+ lines), else ``lines``."""
    if len(blocks) >= 2 and statistics.median(len(b) for b in blocks) >= 2:
        return "blocks"
    return "lines"


def split_paragraphs(text: str, mode: str = "auto") -> list[Paragraph]:
    """Split ``text`` into paragraphs.

    >>> [p.text for p in split_paragraphs("one\\n\\n  two  \\nthree\\n")]
    ['one', 'two', 'three']
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
