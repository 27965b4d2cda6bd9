"""Paragraph splitting: spans, line numbers and the auto choice between lines and blocks."""

from hypothesis import given
from hypothesis import strategies as st

from dedup.paragraphs import split_paragraphs

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
    text = "It was the best of times,\nit was the worst of times.\n\nIt was the age of wisdom,\nit was the age of foolishness.\n"
    paragraphs = split_paragraphs(text)
    assert len(paragraphs) == 2
    assert paragraphs[1].text == "It was the age of wisdom,\nit was the age of foolishness."
    assert (paragraphs[1].line_start, paragraphs[1].line_end) == (4, 5)


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
