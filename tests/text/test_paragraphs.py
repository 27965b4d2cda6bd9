"""Paragraph splitting: spans, line numbers, and what ``auto`` makes of real text.

The golden cases are excerpts of Debian's copyright files, copied as they stand (lines of white
space included), with the paragraphs ``auto`` must give: each as its line range and first words.
"""

import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import derandomized
from dedup.text.paragraphs import split_paragraphs
from texts import BASH_MIT_LIKE, BASH_Y_TAB, DICKENS, GOLDEN, LIBWEBP7

SEEDS = Path(__file__).resolve().parents[2] / "data" / "seeds"

line_text = st.text(alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=30)
documents = st.lists(line_text, max_size=30).map("\n".join)


@given(documents, st.sampled_from(["auto", "lines", "blocks"]))
def test_text_is_exactly_the_span(text, mode):
    for p in split_paragraphs(text, mode):
        assert p.text == text[p.char_start : p.char_end]
        assert p.text == p.text.strip()
        assert p.text


@given(documents, st.sampled_from(["auto", "lines", "blocks"]))
def test_line_numbers_point_at_the_text(text, mode):
    lines = text.split("\n")
    for p in split_paragraphs(text, mode):
        assert 1 <= p.line_start <= p.line_end <= len(lines)
        assert lines[p.line_start - 1].strip() == p.text.split("\n")[0].strip()
        assert lines[p.line_end - 1].strip() == p.text.split("\n")[-1].strip()


@given(documents)
def test_lines_mode_keeps_every_non_blank_line(text):
    paragraphs = split_paragraphs(text, "lines")
    assert [p.text for p in paragraphs] == [line.strip() for line in text.split("\n") if line.strip()]
    assert [p.idx for p in paragraphs] == list(range(len(paragraphs)))


def test_auto_keeps_one_line_per_paragraph_without_blank_lines():
    text = "第一段。\n第二段。\n第三段。"
    assert [p.text for p in split_paragraphs(text)] == ["第一段。", "第二段。", "第三段。"]


def test_auto_keeps_lines_when_blank_lines_separate_single_lines():
    text = "第一段。\n\n第二段。\n\n第三段。\n"
    assert [(p.text, p.line_start) for p in split_paragraphs(text)] == [("第一段。", 1), ("第二段。", 3), ("第三段。", 5)]


def test_auto_joins_hard_wrapped_blocks():
    paragraphs = split_paragraphs(DICKENS)
    assert [(p.line_start, p.line_end) for p in paragraphs] == [(1, 5), (7, 9)]
    assert paragraphs[1].text == "There were a king with a large jaw and a queen with a plain face, on\nthe throne of England; there were a king with a large jaw and a queen\nwith a fair face, on the throne of France."


def test_crlf_free_offsets_with_indentation():
    text = "   indented line   \n\tsecond"
    p = split_paragraphs(text, "lines")
    assert [(x.text, x.char_start) for x in p] == [("indented line", 3), ("second", 21)]


def test_join_mode_joins_a_line_broken_mid_sentence():
    text = "各單位要在前期工作基礎上,進一步\n落實防控舉措。\n下一段。"
    assert len(split_paragraphs(text)) == 3  # auto never joins: a truncated copy looks the same
    paragraphs = split_paragraphs(text, "join")
    assert [(p.line_start, p.line_end) for p in paragraphs] == [(1, 2), (3, 3)]
    assert paragraphs[0].text == "各單位要在前期工作基礎上,進一步\n落實防控舉措。"


def test_headings_and_list_items_are_never_joined():
    for text in [
        "五、强化责任落实,全力维护党的形象\n疫情就是命令,防控就是责任。",  # numbered heading
        "在全县疫情防控工作会议上的讲话篇三\n同志们:",  # title: no clause mark
        "要抓好以下工作,包括\n(一)各方责任要压紧压实。",  # next line is a list item
        "Roses are red.\nViolets are blue,",  # finished line
    ]:
        assert len(split_paragraphs(text, "join")) == 2, text


def test_lines_mode_never_joins():
    assert len(split_paragraphs("各單位要在前期工作基礎上,進一步\n落實防控舉措。", "lines")) == 2


# -- auto on real text: golden excerpts of /usr/share/doc/*/copyright ---------------------------


def shape(text: str, mode: str = "auto") -> list[str]:
    """Each paragraph as 'first-last line' (or 'line') and its first four words."""
    return [
        (f"{p.line_start}-{p.line_end} " if p.line_end > p.line_start else f"{p.line_start} ") + " ".join(p.text.split()[:4])
        for p in split_paragraphs(text, mode)
    ]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_debian_copyright_excerpts(name):
    text, expected = GOLDEN[name]
    assert shape(text) == expected


def test_a_wrapped_licence_among_one_line_fields_stays_whole():
    """libwebp7: most blocks are one-line fields, so the document-wide choice of old cut its
    licence into single lines; its lines of four spaces are blank lines."""
    assert "\n    \n" in LIBWEBP7  # the excerpt still holds its white-space lines
    texts = [" ".join(p.text.split()) for p in split_paragraphs(LIBWEBP7)]
    assert "Redistribution and use in source and binary forms, with or without modification, are permitted provided that the following conditions are met:" in texts
    assert "* Redistributions of source code must retain the above copyright notice, this list of conditions and the following disclaimer." in texts
    assert sum(t.startswith("THIS SOFTWARE IS PROVIDED") and t.endswith("SUCH DAMAGE.") for t in texts) == 1


def test_deb822_fields_licence_paragraphs_and_separators_come_apart():
    texts = [p.text for p in split_paragraphs(BASH_Y_TAB)]
    assert texts[:4] == [
        "Files: y.tab.*",
        "Copyright: (C) 1984, 1989-1990, 2000-2015, 2018-2021 Free Software Foundation,\n   Inc.",
        "License: GPL-3+ with Bison exception",
        "This program is free software: you can redistribute it and/or modify\n   it under the terms of the GNU General Public License as published by\n"
        "   the Free Software Foundation, either version 3 of the License, or\n   (at your option) any later version.",
    ]
    assert texts[4] == "."  # deb822's empty line: a paragraph of its own (an empty key)


def test_a_field_over_a_licence_in_a_c_comment():
    """bash: deb822's License field, then the licence as a C comment; the comment's " * " repeats
    from line to line, so it is a prefix, not a list."""
    assert shape(BASH_MIT_LIKE) == ["1 License: MIT-like", "2-7 * Permission to use,", "8 *", "9-16 * THE SOFTWARE IS"]


@pytest.mark.xfail(strict=True, reason="a sentence over two lines narrower than 40 columns is not taken for wrapped text")
def test_a_narrow_two_line_sentence_is_joined():
    assert shape(LIBWEBP7)[-1] == "49-50 and is licensed under"


# -- auto on constructed cases ----------------------------------------------------------------------


def test_seeds_keep_one_paragraph_a_line():
    """The seeds' long one-line paragraphs separated by single newlines are not wrapped prose:
    a Chinese line of 60 characters is 120 columns, and their widths vary."""
    for seed in sorted(SEEDS.glob("*.txt")):
        text = seed.read_text(encoding="utf-8")
        assert shape(text) == shape(text, "lines"), seed.name


def test_hard_wrapped_chinese_is_joined():
    lines = [line for line in (SEEDS / "001_d3b6136d7093a85b.txt").read_text(encoding="utf-8").split("\n") if len(line) > 120][:2]
    text = "\n\n".join("\n".join(line[i : i + 30] for i in range(0, len(line), 30)) for line in lines)
    paragraphs = split_paragraphs(text)
    assert ["".join(p.text.split("\n")) for p in paragraphs] == lines


@pytest.mark.parametrize("text", [
    "Home\nAbout us\nProducts and services\nContact",  # a menu
    "首页\n关于我们\n联系我们\n\n县长在全县疫情防控表彰大会上的讲话\n2020-12-28 18",  # a menu; a title over its date
    # one sentence a line, lines of about the same width
    "The quick brown fox jumps over the lazy dog near the old river bank.\n"
    "A second sentence that is about as long as the first one is, here.\n"
    "Another line of text that ends a sentence and is of similar width.\n"
    "This is the fourth sentence on its own line, with no wrap at all.",
    # lines wider than any hand-made wrap
    "Affirmer offers the Work as-is and makes no representations or warranties of any kind concerning the Work, express, implied\n"
    "or otherwise, including without limitation warranties of title, merchantability, fitness for a particular purpose, non\n"
    "infringement, or the absence of latent or other defects, accuracy, or the present or absence of errors, whether or not.",
    "Copyright (C) 2004 James Johnson <modean52@comcast.net> and his friends\n"
    "Copyright (C) 2004 David Lodge <dave@cirt.net> and his friends, too",  # the same first word
    # lines of the generated benchmark (bench.generate): a paragraph cut short over the next one,
    "治任务,必须严下达。主要任务是通报前阶段全作机制。二是人口计生键岗位,继续推行街道动态研判,\n"
    "提高临时聘用计戴口罩,交通基础,二要信息上步加强党建工作,引导农村“控和安全防范责任体系。",
    # pinyin junk after a Han character is no lowercase continuation,
    "全民共同抗性别比升高问题。赴外省出差防疫物资，协\nqū)俚解決好用電,這些是我們排查實到人,更務實的作風抓好基提供堅強的消防保障,給錢21年。",
    # and two lines of one width, one of them before a line far wider, attest no wrap
    "三、干部包联带头、全员发动参战,企地联创共建*营商好环境\n接种率达到报送渠道。紧扣“两利三月结\n"
    ",紧盯重点行关机制。加强物***万元,各部门要立足“两物色。\n" + "社区社会做法继续发扬。" * 12,
])
def test_lines_that_are_not_wrapped_prose_stay_lines(text):
    assert shape(text) == shape(text, "lines")


def test_a_heading_and_list_items_start_paragraphs_inside_a_block():
    text = (
        "Conditions\n"
        "Redistribution and use in source and binary forms, with or without\n"
        "modification, are permitted provided that the following conditions\n"
        "are met:\n"
        "1. Redistributions of source code must retain the above copyright\n"
        "   notice, this list of conditions and the following disclaimer.\n"
        "2. Redistributions in binary form must reproduce the above copyright\n"
        "   notice, this list of conditions and the following disclaimer in the\n"
        "   documentation and/or other materials provided with the distribution."
    )
    assert shape(text) == ["1 Conditions", "2-4 Redistribution and use in", "5-6 1. Redistributions of source", "7-9 2. Redistributions in binary"]


def test_a_shared_comment_or_quote_marker_is_ignored():
    for marker in (" * ", "> ", "# ", "// "):
        text = "\n".join(marker + line for line in DICKENS.split("\n\n")[0].split("\n"))
        assert shape(text) == ["1-5 " + " ".join((marker.strip() + " It was the").split())], marker


@pytest.mark.parametrize("blank", [" ", "\t", "  \t ", "\u3000", "\xa0", "\u2003\u3000", "\r"])
def test_a_line_of_white_space_is_blank(blank):
    first, second = DICKENS.split("\n\n")
    assert shape(first + "\n" + blank + "\n" + second) == shape(first + "\n\n" + second) == ["1-5 It was the best", "7-9 There were a king"]


# -- properties --------------------------------------------------------------------------------------

word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


@derandomized(200)
@given(st.lists(st.lists(word, min_size=30, max_size=120, unique=True), min_size=1, max_size=5), st.integers(50, 100))
def test_wrapped_prose_comes_back_as_its_paragraphs(paragraphs, width):
    """Distinct lowercase words wrapped at 50-100 columns, paragraphs between blank lines."""
    wrapped = [textwrap.fill(" ".join(words), width) for words in paragraphs]
    got = split_paragraphs("\n\n".join(wrapped))
    assert [p.text for p in got] == wrapped


line_parts = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=30),
    st.sampled_from(["", " ", "\t", "\u3000", ".", " .", " * ", "> ", "- ", "1. ", "a) ", "一、", "License: ", "Copyright ",
                     "the ", "漢字", "end.", ", ", "and/or"]),
    st.lists(word, min_size=1, max_size=16).map(" ".join),
)
documents_with_structure = st.lists(st.lists(line_parts, max_size=4).map("".join), max_size=40).map("\n".join)


@derandomized(400)
@given(st.one_of(documents, documents_with_structure), st.sampled_from(["auto", "lines", "blocks", "join"]))
def test_paragraphs_are_whole_lines_that_cover_every_non_blank_one(text, mode):
    """Spans never overlap, come in order, and hold every non-blank line exactly once (so every
    non-blank character lies in a paragraph); a paragraph never spans a blank line."""
    lines = text.split("\n")
    non_blank = [i + 1 for i, line in enumerate(lines) if line.strip()]
    paragraphs = split_paragraphs(text, mode)
    covered = [n for p in paragraphs for n in range(p.line_start, p.line_end + 1)]
    assert covered == non_blank
    for a, b in zip(paragraphs, paragraphs[1:]):
        assert a.char_end <= b.char_start
