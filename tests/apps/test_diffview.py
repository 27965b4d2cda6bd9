"""Golden cases for the character diff's labels: differences the key forgets (script, pinyin junk,
placeholders, punctuation) are told apart from real edits, and the diff always gives both texts
back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.apps.console import describe, marked
from dedup.apps.diffview import COSMETIC, KINDS, diff, plain

# (canonical, copy, the labels of the differing segments in order, as (kind, old, new))
GOLDEN = [
    pytest.param("进一步压实防控责任", "進一步壓實防控責任", [("script", "进", "進"), ("script", "压实", "壓實"), ("script", "责", "責")], id="traditional-vs-simplified"),
    pytest.param("关键的问题", "關(guān)鍵的問題", [("script", "关", "關"), ("pinyin", "", "(guān)"), ("script", "键", "鍵"), ("script", "问题", "問題")], id="pinyin-junk"),
    pytest.param("xx同志指出", "**同志指出", [("placeholder", "xx", "**")], id="placeholder-xx-stars"),
    pytest.param("某市召开会议", "XX市召开会议", [("placeholder", "某", "XX")], id="placeholder-mou"),
    pytest.param("第一，加强领导。", "第一,加强领导", [("format", "，", ","), ("format", "。", "")], id="punctuation-width"),
    pytest.param("今年以来经济运行平稳", "今年以来经济运行总体平稳", [("edit", "", "总体")], id="real-insertion"),
    pytest.param("要加强基层党组织建设", "要加强党组织建设", [("edit", "基层", "")], id="real-deletion"),
    pytest.param("全县第十三次党代会", "全市第十三次党代会", [("edit", "县", "市")], id="real-change"),
    # A placeholder filled in with a name is a real difference: the key sees it.
    pytest.param("xx市委书记", "北京市委书记", [("edit", "xx", "北京")], id="placeholder-filled-is-an-edit"),
    # Negatives: look like noise, are not. A toneless bracket is no pinyin; x inside a word is no placeholder.
    pytest.param("方案", "方案(an)", [("edit", "", "(an)")], id="toneless-bracket-is-an-edit"),
    pytest.param("x86 servers", "x87 servers", [("edit", "6", "7")], id="x-in-a-word-is-no-placeholder"),
    pytest.param("The quick fox", "the Quick fox!", [("format", "T", "t"), ("format", "q", "Q"), ("format", "", "!")], id="latin-case"),
]


@pytest.mark.parametrize("canonical, copy, expected", GOLDEN)
def test_golden_labels(canonical, copy, expected):
    segments = diff(canonical, copy)
    assert [(s.kind, s.old, s.new) for s in segments if s.kind != "same"] == expected


def test_identical_texts_are_one_same_segment():
    assert [(s.kind, s.op) for s in diff("同志们:", "同志们:")] == [("same", "equal")]
    assert describe(diff("同志们:", "同志们:")) == "identical"


def test_a_rewritten_passage_is_one_edit_not_chopped_at_common_characters():
    canonical = "充分认识常态化疫情防控工作的重要性和必要性。从外部看"
    copy = "当前隐藏的内容免费查看。从外部看"
    edits = [s for s in diff(canonical, copy) if s.kind == "edit"]
    assert len(edits) == 1, edits


def test_plain_marks_edits_only_and_gives_the_copy_back():
    segments = diff("在全县会议上的讲话", "在全縣會議上的重要讲话")
    text = plain(segments)
    assert text == "在全縣會議上的{+重要+}讲话"
    assert marked(segments) == text  # without colour, the terminal view is the plain one


def test_marked_colours_each_kind():
    seen = []

    def style(text, **kw):
        seen.append((text, tuple(sorted(kw))))
        return f"<{text}>"

    out = marked(diff("关于xx同志指出", "關(guān)于**同志们指出"), style)
    assert out == "<關><(guān)>于<**>同志<{+们+}>指出"
    assert [t for t, _ in seen] == ["關", "(guān)", "**", "{+们+}"]


texts = st.text(alphabet="关於于关键鍵xX*某，,。 abcAB(guān)", max_size=25)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(texts, texts)
def test_segments_give_both_texts_back(a, b):
    segments = diff(a, b)
    assert "".join(s.old for s in segments) == a
    assert "".join(s.new for s in segments) == b
    assert all(s.kind in KINDS for s in segments)
    assert all((s.kind == "same") == (s.old == s.new) for s in segments)
    # neighbours never share a kind (merged)
    assert all(x.kind != y.kind for x, y in zip(segments, segments[1:]))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(texts, texts)
def test_cosmetic_only_when_the_keys_agree(a, b):
    from dedup.text.normalize import normalize

    segments = diff(a, b)
    if all(s.kind in ("same", *COSMETIC) for s in segments):
        assert normalize(a) == normalize(b)
