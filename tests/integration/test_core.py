"""The compiled core (dedup/_core.c, wrapped by dedup/compiled.py) against the Python reference.

Every comparison is exact: the same key string, the same set sizes, band hashes and anchors,
the same shingle ids and intersection sizes, the same rows in every table of a scan. The
reference is always the Python code (``normalize.make_normalizer``, ``local.sign_batch``,
``ShingleSets.from_shingles`` + ``verify.intersection_sizes_numpy``, a scan under
``DEDUP_CORE=python``), never a stored result.

1. normalization: generated text from an alphabet built to reach every branch of the core
   (pinyin, placeholders, the script fold, characters the tables call complex), every line of
   the seeds and of real text on this machine, every BMP code point in a few contexts;
2. the core really does the seeds itself (a regression into "always fall back" fails);
3. signing, with every kind of key and parameter, and the ``ids`` argument;
4. shingle sets and intersections;
5. bad arguments raise, never crash (the crashing cases run in a subprocess);
6. a scan gives the same database on both cores;
7. ``dedup --version`` and ``compiled.core_name()`` name the core.

Hypothesis examples are derandomized: the same examples on every run.
"""

from __future__ import annotations

import glob
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import derandomized
from dedup import compiled
from dedup.text import normalize as ref
from dedup.config import ScanConfig
from dedup.match.lsh import ANCHOR_GAP, ANCHOR_MOD, anchors, band_hashes
from dedup.compiled import make_normalizer
from dedup.text.normalize import make_normalizer as reference_normalizer
from dedup.match.signatures import oph_signatures, shingle_hashes, unique_per_key
from dedup.match.verify import ShingleSets, intersection_sizes_numpy

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "data" / "seeds"

needs_core = pytest.mark.skipif(compiled._core is None, reason=f"the compiled core is not built: {compiled._IMPORT_ERROR}")


def examples(n: int) -> settings:
    """``helpers.derandomized``, also past the autouse fixture's check (it only unsets DEDUP_CORE)."""
    return derandomized(n, HealthCheck.function_scoped_fixture)


@pytest.fixture(autouse=True)
def _compiled_core_chosen(monkeypatch):
    """Every test starts on the compiled core, whatever DEDUP_CORE the suite was run with."""
    monkeypatch.delenv("DEDUP_CORE", raising=False)


def test_the_core_is_built_where_a_compiler_is():
    """With a C compiler on this machine ``pip install -e .`` builds the core: a missing or
    stale build (an ImportError swallowed by compiled.py) must not pass as 'skipped'."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None and shutil.which("cc") is None:
        pytest.skip("no C compiler here: the Python path is the expected one")
    assert compiled._core is not None, compiled._IMPORT_ERROR
    assert compiled.available()


# -- 1. normalization --------------------------------------------------------------------------

REFERENCE = reference_normalizer()


@pytest.fixture(scope="module")
def fast():
    """The compiled normalizer (it binds the core when made, so it stays compiled)."""
    if compiled._core is None:
        pytest.skip("the compiled core is not built")
    with pytest.MonkeyPatch.context() as mp:  # a module fixture runs before the autouse one
        mp.delenv("DEDUP_CORE", raising=False)
        normalizer = make_normalizer()
    assert normalizer.__code__ is not REFERENCE.__code__, "make_normalizer() did not take the compiled path"
    return normalizer


def assert_same(fast, text: str) -> None:
    expected = REFERENCE(text)
    got = fast(text)
    assert got == expected, (text, got, expected)


SIMPLIFIED = "关于疫情防控工作总结发展态势各级党组织要切实履行主体责任坚决守住外防输入内防反弹的底线们领导当地党委说话"
TRADITIONAL = "關於疫情防控工作總結發展態勢各級黨組織要切實履行主體責任堅決守住外防輸入內防反彈的底線們領導當地黨委說話"
# characters OpenCC changes only inside a phrase, the 薴 -> 苧 -> 苎 chain, phrases it converts whole
T2S_SPECIAL = list(ref.T2S_PHRASE_ONLY) + [
    "薴", "苧", "苎", "藉口", "憑藉", "藉由", "深沈", "沈陽", "沈先生", "乾燥", "乾隆", "乾坤", "乾杯", "乾淨", "干擾", "幹部",
    "著作", "著名", "著急", "甦醒", "瞭解", "瞭望", "覆蓋", "頭髮", "理髮", "發展", "皇后", "後來", "麵條", "鬆弛", "嚮往",
    "裏面", "衹有", "夥伴", "週末", "於是", "一隻", "隻身", "只有", "台灣", "臺灣", "颱風", "檯燈", "鐘錶", "鍾情", "餘下",
    "遊戲", "游泳", "幾乎", "彆扭", "什麼", "怎麼", "么", "麼", "俱樂部", "彷彿", "壞", "哩", "菸", "煙", "纔", "才", "係", "繫",
]
PINYIN = [
    "(guān)", "(lǐng)", "(jié)", "(fā)", "(tài)", "(zhuàng)", "(shuāng)", "(lǜ)", "(nǚe)", "(lüè)",
    "(ḿ)", "(hm̄)", "(ńg)", "(hňg)", "(ǹ)", "(ér)", "(xiōng)", "(yuǎn)", "(men)", "(an)", "(de)",
    "(Běi)", "(BĚI)", "(gu(guān)ān)", "?shù)", "?ān)", "??偨Y(jié)", "當?shù)攸h委", "(a", "ā)", "(", ")",
    "?", "[", "{", "(zhuāngg)", "(guānguān)", "(v)", "(ǚ)",
]
TONED = list(ref._TONED) + ["ü", "v"]
PLACEHOLDERS = [
    "x", "X", "×", "*", "○", "〇", "某", "某些", "某种", "某方面", "某个", "某一", "某处", "某样", "某类",
    "某时", "某方", "某人", "某地", "xx", "XX", "**", "×××", "某某", "○○", "〇〇", "ｘｘ", "＊＊", "ⅹ", "Ⅹ",
    "&times;", "index", "Linux", "x86", "3x3", "5*3", "**bold**", "二〇二〇年", "x月xx日", "第x次", "\ue000",
]
NUMERALS = list("0123456789零一二三四五六七八九十百千万亿两") + ["２０２２", "①", "⑵", "㈠", "Ⅻ", "½", "²"]
FULL_WIDTH = [chr(cp) for cp in range(0xFF01, 0xFF5F)] + ["（ＸＸ）", "ＡＢＣ", "　"]
HTML = ["<", ">", "&", "&amp;", "&nbsp;", "&lt;br&gt;", "<br/>", "<p>", "</p>", "<b>", "&#x4e2d;", "&#20013;",
        "&copy=2", "<!-- c -->", "<script>x</script>", "<<书名>>", "a < b > c", "＜", "＆", "﹤", "﹠",
        "<jdoe@example.org>", "<o:p>", "</o:p>", "<x/>", "<span class='a'>", "&#;", "&a;", "&ab;", "ı", "<ı>", "</xı>"]
COMBINING = ["\u0301", "\u0300", "\u0308", "\u0304", "\u030c", "e\u0301", "a\u0304", "i\u0307", "\u0345", "\u20dd",
             "\ufe0f", "\u0e31", "\u093f", "ा", "\u3099", "か\u3099", "\u1ab0"]
HANGUL = ["\u1100", "\u1161", "\u11a8", "\u1100\u1161", "\u1100\u1161\u11a8", "가", "각", "가\u11a8", "한국어",
          "ㄱ", "ㅏ", "ㄱㅏ", "\u3164", "\uffa0", "ﾡ", "\ua960", "\ud7b0", "\u115f", "\u1160"]
GREEK = ["Σ", "ΑΣ", "ΣΑ", "ΑΣΑ", "σ", "ς", "Ϲ", "ΟΔΥΣΣΕΥΣ", "İ", "ı", "ẞ", "ß", "ǅ", "ǈ", "ﬁ", "ﬃ", "K", "Å", "Ω"]
ASTRAL = ["😀", "👍🏻", "🇨🇳", "𠀀", "𪚥", "\U00020000", "\U0002a6d6", "\U0001d400", "\U000e0100", "\U00010000", "\U0010ffff"]
PRIVATE = ["\ue000", "\ue001", "\uf8ff", "\ue5e5"]
# Ideographic description characters: OpenCC leaves a complete sequence (⿰ and two operands,
# ⿲ and three, ⿾ and one, nested) unconverted, whatever its characters
IDS = [chr(cp) for cp in range(0x2FF0, 0x3000)] + ["⿰來來", "⿱⿰來來來", "⿾來", "⿲來來來", "⿰來", "㇯"]
PUNCTUATION = list("，。、；：？！“”‘’（）【】《》〈〉「」『』—…·,.;:!?\"'()[]{}-_/\\|@#$%^~`+=<>・‧﹏～") + ["——", "……", "……"]
WHITESPACE = [" ", "  ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\u2028", "\u2029", "\u2003", "\u3000", "\u200b", "\ufeff"]
WORDS = ["COVID-19", "Größe", "snake_case", "Beijing", "नमस्ते", "Ελλάδα", "Москва", "العربية", "עברית", "ไทย", "ⓐ", "㍿", "㎡", "…"]

PIECES = (
    list(SIMPLIFIED) + list(TRADITIONAL) + T2S_SPECIAL + PINYIN + TONED + PLACEHOLDERS + NUMERALS + FULL_WIDTH
    + HTML + COMBINING + HANGUL + GREEK + ASTRAL + PRIVATE + IDS + PUNCTUATION + WHITESPACE + WORDS
)

bmp_char = st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",))
any_char = st.characters(exclude_categories=("Cs",))
piece = st.one_of(st.sampled_from(PIECES), st.sampled_from(PIECES), st.sampled_from(PIECES), bmp_char, any_char)
rich_text = st.lists(piece, max_size=40).map("".join)


def joined(items, max_size=30):
    return st.lists(st.sampled_from(items), max_size=max_size).map("".join)


# Structured units where the branches of pinyin stripping and placeholder folding meet: a
# character before, an opener, a syllable (real ones, toned or not, and near misses), a closer;
# a placeholder run between two characters of every class the fold looks at.
SYLLABLES = sorted(compiled._syllables(ref._SYLLABLE))
NEAR_SYLLABLES = ["Guān", "guānn", "zhuàngg", "gu ān", "guā", "ā", "ǹg", "hm", "x", "(guān)", "guān(", "ōu", "ü", "ǚe", "vě"]
BEFORE_PINYIN = list("關中a ?([{<)\t　。3") + ["", "\u3000", "\xa0", "ｘ"]
pinyin_unit = st.tuples(
    st.sampled_from(BEFORE_PINYIN),
    st.sampled_from(["(", "(", "?", "（", "", "(("]),
    st.one_of(st.sampled_from(SYLLABLES), st.sampled_from(NEAR_SYLLABLES)),
    st.sampled_from([")", ")", "）", "", "))", ")ā)"]),
).map("".join)
CONTEXT = list("中某a3é_-ωЖ二〇○0９ 、,\n\ue000ⅹ×*xX(") + ["", "", "些", "种", "方面", "方", "一"]
placeholder_unit = st.tuples(
    st.sampled_from(CONTEXT),
    st.lists(st.sampled_from(list("xX×*○〇某") + ["ｘ", "＊", "Ⅹ", "ⅹ", "某些", "某方面"]), min_size=1, max_size=4).map("".join),
    st.sampled_from(CONTEXT),
).map("".join)
pinyin_text = st.lists(st.one_of(pinyin_unit, st.sampled_from(BEFORE_PINYIN)), max_size=8).map("".join)
placeholder_text = st.lists(st.one_of(placeholder_unit, st.sampled_from(CONTEXT)), max_size=8).map("".join)


def _t2s_phrases() -> list[str]:
    """OpenCC's multi-character t2s keys, where converting by character would be wrong (for
    generating text only; T2S_SPECIAL when the dictionaries cannot be read)."""
    found = compiled.opencc_dictionaries()
    return sorted(found[1]) if found else T2S_SPECIAL


T2S_PHRASES = _t2s_phrases()
T2S_FRAGMENTS = sorted({p[:i] for p in T2S_PHRASES for i in range(1, len(p))} | {p[i:] for p in T2S_PHRASES for i in range(1, len(p))})
T2S_TRIGGERS = [c for c in ref.t2s_triggers() if "\u2e80" <= c <= "\uffff"]
script_text = st.lists(
    st.one_of(
        st.sampled_from(T2S_PHRASES), st.sampled_from(T2S_FRAGMENTS), st.sampled_from(T2S_TRIGGERS),
        st.sampled_from(T2S_SPECIAL + list(SIMPLIFIED + TRADITIONAL)),
        st.sampled_from(["x", "某", "(guān)", "，", " ", "A", "Σ", "\n", "e\u0301", "&amp;"] + IDS),
    ),
    max_size=12,
).map("".join)


def _core_prepared():
    """The core with its tables loaded, for choosing what to generate (never as an oracle)."""
    if compiled._core is None:
        return None
    saved = os.environ.pop("DEDUP_CORE", None)
    try:
        compiled.prepare()
    finally:
        if saved is not None:
            os.environ["DEDUP_CORE"] = saved
    return compiled._core


_CORE = _core_prepared()
# What the core normalizes without the reference (a text made of these mostly stays on the
# compiled path, so the comparison tests the C code and not the fallback)
HANDLED_PIECES = [p for p in PIECES if _CORE is not None and _CORE.normalize_key(p, compiled.script_fold) is not None] or PIECES
HANDLED_BMP = [chr(cp) for cp in range(0x10000) if not 0xD800 <= cp <= 0xDFFF and _CORE is not None
               and _CORE.normalize_key(chr(cp), compiled.script_fold) is not None] or ["a"]
core_text = st.lists(
    st.one_of(st.sampled_from(HANDLED_PIECES), st.sampled_from(HANDLED_PIECES), st.sampled_from(HANDLED_BMP), pinyin_unit, placeholder_unit),
    max_size=30,
).map("".join)


@needs_core
@examples(3000)
@given(st.one_of(core_text, core_text, rich_text))
def test_rich_text_normalizes_the_same(fast, text):
    """The main property: two texts in three made of what the core handles itself, one of
    anything (where the core must see that it has to hand the text back)."""
    assert_same(fast, text)


@needs_core
@examples(1200)
@given(st.one_of(pinyin_text, placeholder_text, script_text))
def test_dense_alphabets_normalize_the_same(fast, text):
    assert_same(fast, text)


@needs_core
@examples(300)
@given(st.lists(st.one_of(core_text, rich_text, pinyin_text, placeholder_text), min_size=1, max_size=4).map(" ".join))
def test_long_mixed_paragraphs_normalize_the_same(fast, text):
    assert_same(fast, text * 3)


@needs_core
@examples(600)
@given(st.one_of(core_text, rich_text, pinyin_text, placeholder_text, script_text))
def test_normalize_key_result_is_the_reference_key(fast, text):
    """What the core's normalize_key returns is the reference key, or None (the Python path)."""
    got = compiled._core.normalize_key(text, compiled.script_fold)
    if got is not None:
        assert got == REFERENCE(text), text


GOLDEN_EXAMPLES = [
    "關(guān)于疫情防控，ＸＸ同志指出：", "x月xx日，XX同志、**和某某在某些地区", "Linux x86 index 3x3 二〇二〇年",
    "總結(jié)發(fā)展態(tài)勢，(一)領(lǐng)導", "方案(an)、Beijing (Běijīng)", "（ＸＸ）\u3000２０２２年①…", "COVID-19 Größe",
    "一、“外防输入”——第5条；snake_case ✅ नमस्ते!", "藉(jiè)口", "藉，口", "x,x", "e!\u0301", "ᄀ!ᅡ", "ΟΔΥΣΣΕΥΣ.", "İstanbul",
    "薴麻", "某种意义上，某方面的某人", "○○县〇〇村", "当?shù)攸h委", "", " ", "\ue000", "字號:<br/>R&amp;D&nbsp;部",
]


@needs_core
@pytest.mark.parametrize("text", GOLDEN_EXAMPLES)
def test_docstring_examples_normalize_the_same(fast, text):
    assert_same(fast, text)


def _lines_of(paths, cap_bytes):
    lines, total = [], 0
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        lines.extend(text.splitlines())
        lines.append(text)  # the whole file as one paragraph too
        total += len(text)
        if total >= cap_bytes:
            break
    return lines


@needs_core
def test_every_seed_line_normalizes_the_same(fast):
    lines = _lines_of(sorted(SEEDS.iterdir()), 10**9)
    assert len(lines) > 800
    bad = [line for line in lines if fast(line) != REFERENCE(line)]
    assert not bad, bad[:5]


@needs_core
def test_real_text_on_this_machine_normalizes_the_same(fast):
    paths = sorted(glob.glob("/usr/share/common-licenses/*")) + sorted(glob.glob("/usr/share/doc/*/copyright"))
    paths = [p for p in paths if os.path.isfile(p)]
    random.Random(0).shuffle(paths)
    lines = _lines_of(paths, 3_000_000)
    if len(lines) < 100:
        pytest.skip("no license texts on this machine")
    bad = [line for line in lines if fast(line) != REFERENCE(line)]
    assert not bad, bad[:5]


BMP = [chr(cp) for cp in range(0x10000) if not 0xD800 <= cp <= 0xDFFF]
BMP_CONTEXTS = [
    ("", ""),  # alone
    ("中", "文"),  # between two CJK characters
    ("a", ""),  # after an ASCII letter
    ("x", ""),  # after a placeholder candidate (the look-behind of the fold)
    ("", "x"),  # before one (the look-ahead)
    ("某", ""),  # after 某 (its ordinary words)
    ("關(", "ā)"),  # inside a pinyin group
    ("後", "來來來"),  # before traditional characters (the script fold: by phrase, by character, or not at all)
]


@needs_core
@pytest.mark.parametrize("before, after", BMP_CONTEXTS, ids=["alone", "cjk", "ascii", "x_", "_x", "mou", "pinyin", "traditional"])
def test_every_bmp_code_point_normalizes_the_same(fast, before, after):
    bad = []
    for ch in BMP:
        text = before + ch + after
        if fast(text) != REFERENCE(text):
            bad.append(f"U+{ord(ch):04X} {text!r}: {fast(text)!r} != {REFERENCE(text)!r}")
    assert not bad, bad[:10]


@needs_core
def test_some_astral_code_points_normalize_the_same(fast):
    rng = random.Random(7)
    points = [0x10000, 0x1F600, 0x1F3FB, 0x1D400, 0x20000, 0x2A6D6, 0x2F800, 0xE0001, 0xE0100, 0xF0000, 0x10FFFF]
    points += [rng.randrange(0x10000, 0x110000) for _ in range(3000)]
    for cp in points:
        for text in (chr(cp), "中" + chr(cp) + "文", "a" + chr(cp)):
            assert_same(fast, text)


IDS_CASES = [
    chr(idc) + "來" * n for idc in range(0x2FF0, 0x3000) for n in range(1, 5)
] + ["後⿰來來", "⿰⿱來來來來", "⿰a來來", "⿰來来來", "⿲來來來。⿾來", "發展⿳頭髮來來", "⿾後來"]


@needs_core
def test_ideographic_description_sequences_normalize_the_same(fast):
    """OpenCC keeps an ideographic description sequence as it is (⿰來來 stays traditional),
    so converting it character by character is wrong there."""
    bad = [(text, fast(text), REFERENCE(text)) for text in IDS_CASES if fast(text) != REFERENCE(text)]
    assert not bad, bad[:6]


# re's IGNORECASE lets [A-Za-z] and the letter i match U+0131 (dotless ı) and U+0130 (İ), which
# survive NFKC: to the reference, "<ı>" is the tag <i> and "</xı>" a closing tag
FOLDED_LETTER_TAGS = ["a<ı>b", "a<xı/>b", "a</xı>b", "a<ımg>b", "a<bı x=1>c", "a<o:ı>b", "中<ınput/>文", "<ı>x</ı>"]


@needs_core
@pytest.mark.parametrize("text", FOLDED_LETTER_TAGS)
def test_tags_with_letters_re_folds_to_ascii_normalize_the_same(fast, text):
    assert_same(fast, text)


@pytest.mark.parametrize("text", ["a<scrıpt>b", "<SCRİPT>x</script>", "<stıle>", "a<scrıpt>b</script>c"])
def test_an_opener_with_a_folded_letter_does_not_crash_the_reference(text):
    """``_ELEMENT_OPEN_RE`` (IGNORECASE) matches "<scrıpt>" but ``_ELEMENT_CLOSE_RES`` has no
    key "scrıpt": the reference must still give a key (and the same one as the core)."""
    key = REFERENCE(text)
    assert isinstance(key, str)
    if compiled._core is not None:
        assert make_normalizer()(text) == key


# -- 2. the core does the work -----------------------------------------------------------------


@needs_core
def test_the_core_normalizes_most_seed_lines_itself(fast):
    """normalize_key answers (rather than handing the text to the Python path) for >90% of the
    seed lines, and of the traditional seed 003 alone: falling back for everything would still
    give the right keys, only slowly, and must fail here."""
    core, fold = compiled._core, compiled.script_fold
    lines = [line for path in sorted(SEEDS.iterdir()) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert sum(core.normalize_key(line, fold) is not None for line in lines) > 0.9 * len(lines)
    traditional = [line for line in (SEEDS / "003_1ede3f202e9dcf26.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    assert sum(core.normalize_key(line, fold) is not None for line in traditional) > 0.9 * len(traditional)


@needs_core
def test_the_compiled_normalizer_calls_the_reference_only_when_it_must():
    calls = []

    def reference(text):
        calls.append(text)
        return REFERENCE(text)

    reference.steps = REFERENCE.steps
    normalizer = compiled.compiled_normalizer(reference)
    assert normalizer is not None
    lines = [line for line in (SEEDS / "001_d3b6136d7093a85b.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    assert [normalizer(line) for line in lines] == [REFERENCE(line) for line in lines]
    assert len(calls) < 0.1 * len(lines)
    assert normalizer("a<b>c") == REFERENCE("a<b>c") and calls[-1] == "a<b>c"  # HTML: the reference


def test_python_core_chosen_by_the_environment(monkeypatch):
    monkeypatch.setenv("DEDUP_CORE", "python")
    assert not compiled.available()
    assert compiled.compiled_normalizer(REFERENCE) is None
    normalizer = make_normalizer()
    assert normalizer("關(guān)于") == "关于"
    monkeypatch.setenv("DEDUP_CORE", "PYTHON")
    assert not compiled.available()


# -- 3. signing --------------------------------------------------------------------------------

CJK_DENSE = SIMPLIFIED + TRADITIONAL + "\ue000"
key_text = st.one_of(
    st.just(""),
    st.text(min_size=1, max_size=1),
    st.text(max_size=4),  # shorter than most k
    st.text(alphabet=CJK_DENSE, min_size=1, max_size=80),
    st.text(alphabet="abc中文", max_size=30),  # few distinct shingles, many repeats
    st.text(alphabet=CJK_DENSE + "abcdefghij0123", max_size=60),  # around the dense share
    st.text(alphabet=st.characters(min_codepoint=0x10000, exclude_categories=("Cs",)), max_size=12),  # astral
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60),
    st.text(alphabet="\x00a中", max_size=8),  # NUL, the reference's padding
)
keys_strategy = st.lists(key_text, max_size=14)


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def scan_configs(draw):
    num_perm = draw(st.sampled_from([2, 3, 7, 16, 64, 100, 128, 256]))
    bands = draw(st.one_of(st.none(), st.sampled_from(_divisors(num_perm))))
    return ScanConfig(
        threshold=draw(st.sampled_from([0.3, 0.6, 0.8, 1.0])),
        containment=draw(st.sampled_from([0.0, 0.9])),
        shingle_size=draw(st.one_of(st.none(), st.integers(1, 9))),
        num_perm=num_perm,
        bands=bands,
        seed=draw(st.one_of(st.integers(0, 5), st.integers(0, 2**64 - 1))),
    )


def assert_same_batch(got, expected):
    for field in ("set_sizes", "bands", "anchor_keys", "anchor_values"):
        a, b = np.asarray(getattr(got, field)), np.asarray(getattr(expected, field))
        assert a.dtype == b.dtype, (field, a.dtype, b.dtype)
        assert a.shape == b.shape, (field, a.shape, b.shape)
        assert np.array_equal(a, b), field


def _quiet(fn, *args):
    with warnings.catch_warnings(), np.errstate(over="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's scalar overflow of seed * MIX
        return fn(*args)


@needs_core
@examples(300)
@given(keys_strategy, scan_configs())
def test_sign_utf8_is_sign_batch(keys, config):
    from dedup.engines.local import sign_batch, sign_utf8

    b, r = config.lsh_bands()
    data, offsets = compiled.encode_keys(keys)
    assert_same_batch(sign_utf8(data, offsets, None, config, b, r), _quiet(sign_batch, keys, config, b, r))


@needs_core
@examples(300)
@given(keys_strategy.filter(len), scan_configs(), st.data())
def test_sign_utf8_of_some_ids_is_sign_batch_of_those_keys(keys, config, data):
    from dedup.engines.local import sign_batch, sign_utf8

    ids = data.draw(st.lists(st.integers(0, len(keys) - 1), max_size=2 * len(keys)))  # repeats, any order
    b, r = config.lsh_bands()
    buffer, offsets = compiled.encode_keys(keys)
    got = sign_utf8(buffer, offsets, np.array(ids, dtype=np.int64), config, b, r)
    assert_same_batch(got, _quiet(sign_batch, [keys[i] for i in ids], config, b, r))


def reference_sign(keys, k, dense_k, seed, num_perm, b, r, anchor_mod, anchor_gap):
    """compiled.sign from the library's numpy pieces (what local.sign_batch is made of)."""
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        h, off = shingle_hashes(keys, k, seed, dense_k=dense_k)
        ids, id_off = unique_per_key(h, off)
        sig = oph_signatures(h, off, num_perm, seed)
        owner, values = anchors(h, off, anchor_mod, anchor_gap) if anchor_mod else (np.zeros(0, np.int32), np.zeros(0, np.uint32))
        return np.diff(id_off), band_hashes(sig, b, r).astype(np.uint32), owner, values


@st.composite
def sign_parameters(draw):
    k = draw(st.integers(1, 9))
    dense_k = draw(st.one_of(st.none(), st.just(k), st.integers(1, 9)))
    num_perm = draw(st.integers(2, 300))
    rows = draw(st.integers(1, num_perm))
    bands = draw(st.integers(0, num_perm // rows))  # b * r <= num_perm, not necessarily all of it
    seed = draw(st.one_of(st.integers(0, 3), st.integers(0, 2**64 - 1)))
    anchor_mod = draw(st.sampled_from([0, 1, 2, ANCHOR_MOD, 255]))
    anchor_gap = draw(st.sampled_from([1, 2, ANCHOR_GAP, 12]))
    return k, dense_k, seed, num_perm, bands, rows, anchor_mod, anchor_gap


@needs_core
@examples(300)
@given(keys_strategy, sign_parameters())
def test_sign_with_any_parameters_is_the_numpy_reference(keys, params):
    data, offsets = compiled.encode_keys(keys)
    got = compiled.sign(data, offsets, None, *params)
    expected = reference_sign(keys, *params)
    for name, a, b in zip(("sizes", "bands", "anchor owners", "anchor values"), got, expected):
        assert a.dtype == b.dtype and a.shape == b.shape, (name, a.dtype, b.dtype, a.shape, b.shape)
        assert np.array_equal(a, b), name


@needs_core
def test_sign_of_a_large_batch_of_seed_keys():
    """Thousands of real keys in one call (buffers grow, anchors overflow their first block)."""
    from dedup.engines.local import sign_batch, sign_utf8

    keys = [REFERENCE(line) for path in sorted(SEEDS.iterdir()) for line in path.read_text(encoding="utf-8").splitlines()]
    keys = keys + [k[: len(k) // 2] for k in keys] + ["".join(keys[:50])]
    for config in (ScanConfig(), ScanConfig(containment=0, seed=7, num_perm=64, shingle_size=4)):
        b, r = config.lsh_bands()
        data, offsets = compiled.encode_keys(keys)
        signed = sign_utf8(data, offsets, None, config, b, r)
        assert_same_batch(signed, _quiet(sign_batch, keys, config, b, r))
    assert len(signed.set_sizes) == len(keys)
    ids = np.arange(len(keys), dtype=np.int64)[::-3].copy()
    config = ScanConfig()
    b, r = config.lsh_bands()
    assert_same_batch(sign_utf8(data, offsets, ids, config, b, r), _quiet(sign_batch, [keys[i] for i in ids], config, b, r))


def test_encode_keys_offsets_cut_the_utf8():
    keys = ["", "a", "中文", "😀x", ""]
    data, offsets = compiled.encode_keys(keys)
    assert offsets.dtype == np.int64 and offsets.tolist()[0] == 0 and len(offsets) == len(keys) + 1
    assert [data[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(len(keys))] == keys
    data, offsets = compiled.encode_keys([])
    assert data == b"" and offsets.tolist() == [0]


# -- 4. shingle sets and intersections -----------------------------------------------------------


@needs_core
@examples(400)
@given(keys_strategy, st.integers(1, 9), st.one_of(st.none(), st.integers(1, 9)), st.one_of(st.integers(0, 3), st.integers(0, 2**64 - 1)), st.data())
def test_shingle_sets_are_the_reference_sets(keys, k, dense_k, seed, data):
    ids = None
    if keys and data.draw(st.booleans()):
        ids = data.draw(st.lists(st.integers(0, len(keys) - 1), max_size=2 * len(keys)))
    chosen = keys if ids is None else [keys[i] for i in ids]
    buffer, offsets = compiled.encode_keys(keys)
    got_hashes, got_offsets = compiled.shingle_sets(buffer, offsets, None if ids is None else np.array(ids, dtype=np.int64), k, dense_k, seed)
    with np.errstate(over="ignore"):
        expected = ShingleSets.from_shingles(*shingle_hashes(chosen, k, seed, dense_k=dense_k))
    assert got_hashes.dtype == expected.hashes.dtype and got_offsets.dtype == expected.offsets.dtype
    assert np.array_equal(got_offsets, expected.offsets)
    assert np.array_equal(got_hashes, expected.hashes)


overlapping_keys = st.lists(st.text(alphabet="ab中文字", max_size=25), min_size=1, max_size=12)


@needs_core
@examples(400)
@given(overlapping_keys, st.integers(1, 4), st.data())
def test_intersections_are_the_numpy_reference(keys, k, data):
    sets = ShingleSets.from_shingles(*shingle_hashes(keys, k))
    n = len(keys)
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=40))
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    got = compiled.intersections(sets.hashes, sets.offsets, a, b)
    expected = intersection_sizes_numpy(sets, a, b)
    assert got.dtype == expected.dtype == np.int64
    assert np.array_equal(got, expected)
    # and against the sets themselves
    for i, (x, y) in enumerate(pairs):
        sx = set(sets.hashes[sets.offsets[x] : sets.offsets[x + 1]].tolist())
        sy = set(sets.hashes[sets.offsets[y] : sets.offsets[y + 1]].tolist())
        assert got[i] == len(sx & sy)


@needs_core
def test_intersections_of_many_random_pairs_of_seed_keys():
    keys = [REFERENCE(line) for path in sorted(SEEDS.iterdir()) for line in path.read_text(encoding="utf-8").splitlines()]
    rng = np.random.default_rng(3)
    # near copies: every key with some characters replaced, so most pairs share much
    edited = ["".join(c if rng.random() > 0.05 else "某" for c in key) for key in keys]
    all_keys = keys + edited
    buffer, offsets = compiled.encode_keys(all_keys)
    sets = ShingleSets(*compiled.shingle_sets(buffer, offsets, None, 5, 3, 1))
    reference_sets = ShingleSets.from_shingles(*shingle_hashes(all_keys, 5, 1, dense_k=3))
    assert np.array_equal(sets.hashes, reference_sets.hashes) and np.array_equal(sets.offsets, reference_sets.offsets)
    n = len(keys)
    a = np.concatenate([np.arange(n), rng.integers(0, 2 * n, 20000)])
    b = np.concatenate([np.arange(n) + n, rng.integers(0, 2 * n, 20000)])
    got = compiled.intersections(sets.hashes, sets.offsets, a, b)
    assert np.array_equal(got, intersection_sizes_numpy(reference_sets, a, b))
    assert (got[:n] > 0).sum() > 0.5 * n  # the near copies do share shingles: not all zeros
    # int32 pair indexes and non-contiguous arrays are converted by the wrapper
    assert np.array_equal(compiled.intersections(sets.hashes, sets.offsets, a[::2].astype(np.int32), b[::2]), got[::2])


# -- the document-at-a-time path of a scan (when the core has it) ---------------------------------

document_text = st.lists(st.one_of(core_text, rich_text, pinyin_text, placeholder_text, script_text, st.sampled_from(WHITESPACE)), max_size=12).map("\n".join)


@needs_core
@examples(250)
@given(document_text, st.data())
def test_document_keys_are_the_reference_keys(fast, text, data):
    """``normalizer.document_keys`` (one core call a document) gives the reference key of every
    span, with its length in characters: for the paragraphs of the document and for any spans."""
    document_keys = fast.document_keys
    from dedup.text.paragraphs import paragraph_spans

    spans = [tuple(row) for row in paragraph_spans(text, "lines")[:, 2:4].tolist()]
    points = st.integers(0, len(text))
    spans += data.draw(st.lists(st.tuples(points, points).map(sorted).map(tuple), max_size=6))
    starts = np.array([a for a, _ in spans], dtype=np.int64)
    ends = np.array([b for _, b in spans], dtype=np.int64)
    keys, key_ends, key_chars = document_keys(text, starts, ends)
    bounds = [0, *np.asarray(key_ends).tolist()]
    got = [bytes(keys[bounds[i] : bounds[i + 1]]).decode("utf-8") for i in range(len(spans))]
    expected = [REFERENCE(text[a:b]) for a, b in spans]
    assert got == expected, text
    assert np.asarray(key_chars).tolist() == [len(k) for k in expected]


@needs_core
def test_document_keys_of_the_seed_files_are_the_reference_keys(fast):
    document_keys = fast.document_keys
    for path in sorted(SEEDS.iterdir()):
        text = path.read_text(encoding="utf-8")
        bounds = np.r_[0, np.cumsum([len(line) + 1 for line in text.split("\n")])]
        starts, ends = bounds[:-1], np.minimum(bounds[1:] - 1, len(text))
        keys, key_ends, _ = document_keys(text, starts, ends)
        cuts = [0, *np.asarray(key_ends).tolist()]
        got = [bytes(keys[cuts[i] : cuts[i + 1]]).decode("utf-8") for i in range(len(starts))]
        assert got == [REFERENCE(text[a:b]) for a, b in zip(starts, ends)], path.name


@needs_core
def test_bad_document_spans_raise(core):
    text = "中文\nabc"
    for starts, ends in (([0], [99]), ([-1], [2]), ([3], [2]), ([0, 1], [2])):
        with pytest.raises((IndexError, ValueError)):
            core.normalize_spans(text, np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64), str, REFERENCE)
    with pytest.raises(TypeError):
        core.normalize_spans(b"abc", np.zeros(0, np.int64), np.zeros(0, np.int64), str, REFERENCE)


utf8_like = st.one_of(
    st.binary(max_size=60),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),  # well-formed, or a surrogate
    st.lists(st.sampled_from([b"a", "é".encode(), "中".encode(), "😀".encode(), b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe4\xb8"]),
             max_size=12).map(b"".join),
)


@needs_core
@examples(1500)
@given(utf8_like)
def test_decode_utf8_is_the_strict_decoder(core, data):
    """The core's UTF-8 decoding gives Python's str (the same kind, so equal and hashing alike)
    for well-formed bytes, and None where the strict decoder raises (overlong forms, surrogates,
    past U+10FFFF, a sequence cut short)."""
    try:
        expected = data.decode("utf-8")
    except UnicodeDecodeError:
        expected = None
    got = core.decode_utf8(data)
    assert got == expected, data
    if expected is not None:
        assert hash(got) == hash(expected) and got.isascii() == expected.isascii()
        assert compiled.decode_utf8(data) == expected
    else:
        with pytest.raises(UnicodeDecodeError):
            compiled.decode_utf8(data)


def reference_prepared(text: str, split: str):
    """``local.prepare_document`` of ``text`` on the Python path: the reference normalizer a
    paragraph, Python's split and xxhash's own fingerprints."""
    from dedup.engines.local import prepare_document
    from dedup.sources.corpus import Document

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEDUP_CORE", "python")
        prepared = prepare_document(Document("doc", text, "utf-8", 0, ""), split, REFERENCE)
    return prepared.spans.tobytes(), prepared.keys, prepared.key_ends.tobytes(), prepared.fingerprints


@needs_core
@examples(250)
@given(document_text, st.sampled_from(["auto", "lines", "blocks"]), st.integers(0, 12))
def test_prepare_text_is_the_python_prepare_document(fast, text, split, shortest):
    """``normalizer.prepare_text`` (split, keys and fingerprints in one core call) gives the bytes
    of the Python path's spans, keys, key ends and fingerprints; under ``shortest`` characters
    a key has the zero fingerprint."""
    from dedup.config import MIN_KEY_CHARS
    from dedup.text.paragraphs import SPLIT_MODES

    if not compiled.xxh3_address():
        pytest.skip("this xxhash build does not export XXH3_128bits: prepare_text is not used")
    got = fast.prepare_text(text, SPLIT_MODES[split], MIN_KEY_CHARS)
    assert got == reference_prepared(text, split), text
    spans, _, _, fps = fast.prepare_text(text, SPLIT_MODES[split], shortest)
    chars = np.frombuffer(spans, dtype=np.int64)[5::6]
    zero = np.all(np.frombuffer(fps, dtype=np.uint8).reshape(-1, 16) == 0, axis=1)
    assert np.array_equal(zero, chars < shortest)


@needs_core
def test_prepare_text_of_real_text_is_the_python_prepare_document(fast):
    """The same on the seeds and the licence texts of this machine (prose nobody here wrote)."""
    from dedup.config import MIN_KEY_CHARS
    from dedup.text.paragraphs import SPLIT_MODES

    if not compiled.xxh3_address():
        pytest.skip("this xxhash build does not export XXH3_128bits: prepare_text is not used")
    texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.iterdir())]
    licences = Path("/usr/share/common-licenses")
    if licences.is_dir():
        texts += [p.read_text(encoding="utf-8", errors="replace") for p in sorted(licences.iterdir()) if p.is_file()]
    for text in texts:
        for split in ("auto", "lines", "blocks"):
            assert fast.prepare_text(text, SPLIT_MODES[split], MIN_KEY_CHARS) == reference_prepared(text, split), text[:100]


split_text = st.lists(st.one_of(st.sampled_from(WHITESPACE + ["", "", "\n", "\n\n", "\r\n"]), rich_text), max_size=20).map("".join)


@needs_core
@examples(300)
@given(split_text)
def test_paragraph_spans_are_the_same_on_both_cores(text):
    results = spans_on_both_cores(text, ("auto", "lines", "blocks"))
    assert results[0] == results[1], text
    by_line = results[0][1]
    assert [text[r[2] : r[3]] for r in by_line] == [line.strip() for line in text.split("\n") if line.strip()]


def spans_on_both_cores(text: str, modes=("auto",)) -> list:
    from dedup.text import paragraphs

    results = []
    for core_env in (None, "python"):
        with pytest.MonkeyPatch.context() as mp:
            if core_env:
                mp.setenv("DEDUP_CORE", core_env)
            else:
                mp.delenv("DEDUP_CORE", raising=False)
            results.append([paragraphs.paragraph_spans(text, mode).tolist() for mode in modes])
    return results


# lines of wrapped-looking prose, fields, list items, comment markers, Han text, all-caps and
# titlecase words, at widths on both sides of the 40 and 100 columns the auto split looks at
prose_word = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=9),
    st.sampled_from(["The", "the", "License:", "Copyright", "IN", "OF", "software,", "end.", "free:", "漢字", "，", "。", "and/or",
                     "(c)", "2004", "-", "*", "1.", "a)", "一、", "é", "Ǆ", "ǅ", "x\t", "國際", "\u3000"]),
)
prose_line = st.tuples(
    st.sampled_from(["", " ", "  ", "    ", "\t", " * ", "> ", "# ", "\u3000\u3000", " . ", "-- "]),
    st.lists(prose_word, max_size=18).map(" ".join),
    st.sampled_from(["", " ", "\t", "\u3000"]),
).map("".join)
prose_text = st.lists(prose_line, max_size=30).map("\n".join)


@needs_core
@examples(500)
@given(prose_text)
def test_auto_split_is_the_same_on_both_cores(text):
    compiled_spans, python_spans = spans_on_both_cores(text)
    assert compiled_spans == python_spans, text


@needs_core
def test_auto_split_of_real_licences_is_the_same_on_both_cores():
    from texts import DICKENS, GOLDEN

    texts = [text for text, _ in GOLDEN.values()] + [DICKENS] + [p.read_text(encoding="utf-8") for p in sorted(SEEDS.iterdir())]
    licences = Path("/usr/share/common-licenses")
    if licences.is_dir():
        texts += [p.read_text(encoding="utf-8", errors="replace") for p in sorted(licences.iterdir()) if p.is_file()]
    for text in texts:
        compiled_spans, python_spans = spans_on_both_cores(text, ("auto", "lines", "blocks"))
        assert compiled_spans == python_spans, text[:200]


@needs_core
@examples(150)
@given(st.lists(st.integers(0, 40), max_size=3000), st.integers(1, 5))
def test_fingerprint_index_is_the_reference(picks, calls):
    """The core's FingerprintIndex against fingerprint.FingerprintIndex: the same ids, counts and
    fingerprints, past its first table sizes, with fingerprints that share their first 8 bytes
    (its hash) and the all-zero 'none'."""
    from dedup.text.fingerprint import FingerprintIndex, fingerprint

    pool = [bytes(16)] + [fingerprint(str(i)) for i in range(20)] + [b"\1" * 8 + bytes([i]) * 8 for i in range(20)]
    many = [fingerprint(f"k{i}") for i in range(len(picks))]  # as many distinct ones, to grow the table
    stream = b"".join(pool[p] if p <= 40 else b"" for p in picks) + b"".join(many[: len(picks) // 2])
    fast_index, reference_index = compiled._core.FingerprintIndex(), FingerprintIndex()
    step = max(16, (len(stream) // calls) // 16 * 16)
    for start in range(0, len(stream), step):
        part = stream[start : start + step]
        assert fast_index.add(part) == reference_index.add(part)
    assert fast_index.add(b"") == reference_index.add(b"") == b""
    assert len(fast_index) == len(reference_index)
    assert fast_index.counts() == reference_index.counts()
    assert fast_index.fingerprints() == reference_index.fingerprints()
    with pytest.raises(ValueError):
        fast_index.add(b"\0" * 15)


# -- 5. bad arguments raise, never crash ---------------------------------------------------------


@pytest.fixture
def core():
    if compiled._core is None:
        pytest.skip("the compiled core is not built")
    compiled.prepare()
    return compiled._core


def _keys():
    return compiled.encode_keys(["abcdefgh", "中文字符测试", ""])


@needs_core
@pytest.mark.parametrize("what, bad, error", [
    ("offsets", np.array([], dtype=np.int64), ValueError),  # no offset at all
    ("offsets", np.array([0, 8, 4, 29], dtype=np.int64), ValueError),  # decreasing
    ("offsets", np.array([-1, 8, 26, 26], dtype=np.int64), ValueError),  # negative
    ("offsets", np.array([0, 8, 26, 27], dtype=np.int64), ValueError),  # past the data
    ("offsets", np.array([0, 8, 26, 10**12], dtype=np.int64), ValueError),
    ("offsets", np.array([0, 8, 26], dtype=np.int32), ValueError),  # 12 bytes: not int64 items
    ("offsets", b"\x00" * 7, ValueError),
    ("offsets", [0, 8, 26, 26], TypeError),  # not a buffer
    ("ids", np.array([3], dtype=np.int64), IndexError),
    ("ids", np.array([0, -1], dtype=np.int64), IndexError),
    ("ids", np.array([2**62], dtype=np.int64), IndexError),
    ("ids", np.array([0, 1, 2], dtype=np.int32), ValueError),  # 12 bytes: not int64 items
    ("ids", [0, 1], TypeError),
    ("ids", "ab", TypeError),
])
def test_bad_offsets_and_ids_raise(core, what, bad, error):
    """Offsets that do not fit the key bytes and ids out of range or of the wrong type are refused
    by both readers of a key buffer."""
    data, offsets = _keys()
    offsets, ids = (bad, None) if what == "offsets" else (offsets, bad)
    with pytest.raises(error):
        core.sign(data, offsets, ids, 5, 3, 1, 128, 22, 3, 16, 5)
    with pytest.raises(error):
        core.shingle_sets(data, offsets, ids, 5, 3, 1)


@needs_core
def test_bad_offsets_of_keys_not_asked_for_are_not_read(core):
    """Only the keys ``ids`` are read, so only their offsets need to fit."""
    data, offsets = _keys()
    offsets = offsets.copy()
    offsets[3] = 10**9  # the last key's end is broken
    sizes, _, _, _ = core.sign(data, offsets, np.array([1, 0], dtype=np.int64), 5, 3, 1, 128, 22, 3, 16, 5)
    assert np.frombuffer(sizes, dtype=np.int64).tolist() == [4, 4]
    with pytest.raises(ValueError):
        core.sign(data, offsets, np.array([2], dtype=np.int64), 5, 3, 1, 128, 22, 3, 16, 5)


@needs_core
@pytest.mark.parametrize("params", [
    (0, 3, 1, 128, 22, 3, 16, 5),  # k 0
    (-1, 3, 1, 128, 22, 3, 16, 5),
    (5, 3, 1, 1, 1, 1, 16, 5),  # num_perm 1
    (5, 3, 1, 128, 22, 6, 16, 5),  # 132 rows > 128
    (5, 3, 1, 128, 1, 0, 16, 5),  # rows 0
    (5, 3, 1, 128, -1, 3, 16, 5),  # negative bands
    (5, 3, 1, 128, 22, 3, -16, 5),  # negative anchor modulus
    (5, 3, 1, 128, 22, 3, 16, 0),  # anchor gap 0
])
def test_bad_sign_parameters_raise(core, params):
    data, offsets = _keys()
    with pytest.raises(ValueError):
        core.sign(data, offsets, None, *params)


@needs_core
def test_bad_shingle_parameters_raise(core):
    data, offsets = _keys()
    with pytest.raises(ValueError):
        core.shingle_sets(data, offsets, None, 0, 3, 1)
    with pytest.raises(TypeError):
        core.shingle_sets(data, offsets, None, "5", 3, 1)


@needs_core
def test_bad_intersection_arguments_raise(core):
    data, offsets = _keys()
    hashes, set_offsets = compiled.shingle_sets(data, offsets, None, 5, 3, 1)
    pair = np.array([0, 1], dtype=np.int64)
    good = np.frombuffer(core.intersections(hashes, set_offsets, pair, pair[::-1].copy()), dtype=np.int64)
    assert good.tolist() == [0, 0]
    for a, b in [([3], [0]), ([0], [-1]), ([-5], [0]), ([0], [2**40])]:
        with pytest.raises(IndexError):
            core.intersections(hashes, set_offsets, np.array(a, dtype=np.int64), np.array(b, dtype=np.int64))
        with pytest.raises(IndexError):
            compiled.intersections(hashes, set_offsets, np.array(a), np.array(b))
    with pytest.raises(ValueError):  # a and b differ in length
        core.intersections(hashes, set_offsets, pair, pair[:1].copy())
    for bad_offsets in ([0, 4, 2, 8], [0, 4, 8, 9], [-1, 4, 8, 8]):
        with pytest.raises(ValueError):
            core.intersections(hashes, np.array(bad_offsets, dtype=np.int64), pair, pair)
    with pytest.raises(IndexError):  # no set at all: every index is out of range
        core.intersections(hashes, np.zeros(0, dtype=np.int64), pair, pair)
    with pytest.raises(ValueError):  # 12-byte buffers are not int64/uint64 arrays
        core.intersections(hashes[:1].tobytes() + b"\0" * 4, set_offsets, pair, pair)
    with pytest.raises(ValueError):
        core.intersections(hashes, set_offsets, np.zeros(3, dtype=np.int32), np.zeros(3, dtype=np.int32))
    with pytest.raises(TypeError):
        core.intersections(hashes, set_offsets, [0], [1])
    empty = np.zeros(0, dtype=np.int64)
    assert core.intersections(hashes, set_offsets, empty, empty) == b""


@needs_core
def test_bad_normalize_arguments_raise(core):
    for bad in (None, b"abc", 3, ["a"]):
        with pytest.raises(TypeError):
            core.normalize_key(bad, compiled.script_fold)
    with pytest.raises(TypeError):
        core.set_tables(b"", b"")
    with pytest.raises(ValueError):  # tables of the wrong size are refused, the loaded ones kept
        core.set_tables(b"\0" * 10, *compiled.tables()[1:6])
    assert core.normalize_key("關(guān)于", compiled.script_fold) == "关于"


def _run_isolated(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (a crash there cannot take the test run down)."""
    prelude = "import numpy as np\nfrom dedup import compiled\ncompiled.prepare()\ncore = compiled._core\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DEDUP_CORE", None)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


def _assert_raised(result, error: str):
    assert result.returncode != -11 and result.returncode >= 0, f"the interpreter crashed (signal {-result.returncode})"
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == error, (result.stdout, result.stderr[-2000:])


@needs_core
@pytest.mark.parametrize("bands, rows", [(65536, 65536), (2, 2**30 + 100), (2**31 - 1, 2)])
def test_bands_times_rows_overflowing_an_int_raise(bands, rows):
    """b * r is checked against num_perm in C ``int``: a product past 2^31 must still be refused."""
    result = _run_isolated(f"""
        data, offsets = compiled.encode_keys(["abcdefgh", "中文字符测试"])
        try:
            core.sign(data, offsets, None, 5, 0, 1, 128, {bands}, {rows}, 0, 5)
        except ValueError:
            print("ValueError")
        else:
            print("accepted")
    """)
    _assert_raised(result, "ValueError")


@needs_core
@pytest.mark.parametrize("last_byte", ["0xf0", "0xe4", "0xc3", "0xff"])
def test_a_key_cut_inside_a_utf8_character_is_never_read_past_the_buffer(last_byte):
    """The last key ends with the first byte of a multi-byte character, at the very end of a
    buffer followed by an unreadable page: the decoder must not read on (ValueError, or any
    result, but no crash)."""
    result = _run_isolated(f"""
        import ctypes, mmap
        libc = ctypes.CDLL(None)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        page = mmap.PAGESIZE
        addr = libc.mmap(None, 2 * page, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value)
        assert libc.mprotect(addr + page, page, 0) == 0  # the page after the buffer: no access
        buf = (ctypes.c_char * page).from_address(addr)
        buf[page - 1] = bytes([{last_byte}])
        offsets = np.array([0, page - 1, page], dtype=np.int64)
        for call in (lambda: core.shingle_sets(buf, offsets, None, 1, 0, 1),
                     lambda: core.sign(buf, offsets, None, 1, 0, 1, 16, 4, 4, 1, 5)):
            try:
                call()
            except ValueError:
                pass
        print("survived")
    """)
    _assert_raised(result, "survived")


@needs_core
def test_ids_of_another_integer_type_are_not_misread():
    """compiled.sign and compiled.shingle_sets take ids as any integer array, as
    compiled.intersections does: int32 ids either give the int64 result or are refused."""
    keys = ["abcdefgh", "中文字符测试", "另一个中文段落的内容", "xyz"]
    data, offsets = compiled.encode_keys(keys)
    wanted = np.array([1, 0], dtype=np.int64)  # as int32: 8 bytes, the one int64 id 1
    expected = compiled.sign(data, offsets, wanted, 5, 3, 1, 128, 22, 3, 16, ANCHOR_GAP)
    expected_sets = compiled.shingle_sets(data, offsets, wanted, 5, 3, 1)
    for ids in (wanted.astype(np.int32), wanted.astype(np.uint64), wanted[::-1][::-1]):
        try:
            got = compiled.sign(data, offsets, ids, 5, 3, 1, 128, 22, 3, 16, ANCHOR_GAP)
        except (TypeError, ValueError, IndexError):
            pass
        else:
            assert all(np.array_equal(x, y) for x, y in zip(got, expected)), ids.dtype
        try:
            got_sets = compiled.shingle_sets(data, offsets, ids, 5, 3, 1)
        except (TypeError, ValueError, IndexError):
            pass
        else:
            assert all(np.array_equal(x, y) for x, y in zip(got_sets, expected_sets)), ids.dtype


# -- 6. a scan gives the same database on both cores ----------------------------------------------

TABLES = {
    "documents": "id",
    "paragraphs": "id",
    "clusters": "id",
    "members": "paragraph_id",
    "keys": "id",
    "checked": "a, b",
    "files": "source",
}


def dump(db: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        out = {}
        for table, order in TABLES.items():
            if table in names:
                out[table] = conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
        runs = conn.execute("SELECT root, config, version, counts FROM runs ORDER BY id").fetchall()
        out["runs"] = [(root, json.dumps({**json.loads(config), "workers": None}), version, counts) for root, config, version, counts in runs]
        return out
    finally:
        conn.close()


class _Counting:
    """The core module with every call counted, or refused (``refuse``: the Python path must
    not touch it)."""

    def __init__(self, module, refuse=False):
        self._module, self._refuse, self.calls = module, refuse, {}

    def __getattr__(self, name):
        attr = getattr(self._module, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            if self._refuse and name != "set_tables":
                raise AssertionError(f"the compiled core's {name} was called on the Python path")
            self.calls[name] = self.calls.get(name, 0) + 1
            return attr(*args, **kwargs)

        return call


def _scan_both(monkeypatch, corpus: Path, tmp_path: Path, **config):
    from dedup.pipeline import scan

    # compiled, in this process (workers=1), so that the calls can be counted
    counting = _Counting(compiled._core)
    monkeypatch.setattr(compiled, "_core", counting)
    scan(corpus, ScanConfig(workers=1, **config), tmp_path / "compiled.db")
    monkeypatch.setattr(compiled, "_core", counting._module)
    # the core did the work: documents split and normalized, keys signed, pairs verified
    documents = ("prepare_text",) if compiled.xxh3_address() else ("paragraph_spans", "normalize_spans")
    for function in (*documents, "sign", "pair_intersections"):
        assert counting.calls.get(function, 0) > 0, (function, counting.calls)
    # compiled again, with forked workers
    scan(corpus, ScanConfig(workers=3, **config), tmp_path / "compiled3.db")
    # the Python path: the core refuses every call
    monkeypatch.setenv("DEDUP_CORE", "python")
    assert not compiled.available()
    monkeypatch.setattr(compiled, "_core", _Counting(counting._module, refuse=True))
    scan(corpus, ScanConfig(workers=1, **config), tmp_path / "python.db")
    scan(corpus, ScanConfig(workers=3, **config), tmp_path / "python3.db")
    return [dump(tmp_path / name) for name in ("compiled.db", "compiled3.db", "python.db", "python3.db")]


def assert_same_tables(left: dict, right: dict):
    assert left.keys() == right.keys()
    for table in left:
        assert len(left[table]) == len(right[table]), table
        for a, b in zip(left[table], right[table]):
            assert a == b, (table, a, b)


@needs_core
def test_scan_of_the_seeds_is_the_same_on_both_cores(monkeypatch, tmp_path):
    corpus = tmp_path / "seeds"
    shutil.copytree(SEEDS, corpus)
    compiled_db, compiled3, python_db, python3 = _scan_both(monkeypatch, corpus, tmp_path)
    assert len(compiled_db["paragraphs"]) > 500 and len(compiled_db["clusters"]) > 10
    assert len(compiled_db["checked"]) > 10  # pairs were verified: the intersections ran
    assert_same_tables(compiled_db, python_db)
    assert_same_tables(compiled_db, compiled3)
    assert_same_tables(python_db, python3)


@needs_core
def test_scan_of_a_generated_dump_is_the_same_on_both_cores(monkeypatch, tmp_path):
    subprocess.run([sys.executable, "-m", "bench.generate", "--out", str(tmp_path / "dump"), "--docs", "60", "--seed", "5"],
                   cwd=ROOT, check=True, capture_output=True, timeout=120)
    corpus = tmp_path / "dump" / "docs"
    compiled_db, compiled3, python_db, python3 = _scan_both(monkeypatch, corpus, tmp_path)
    assert len(compiled_db["paragraphs"]) > 1000 and len(compiled_db["members"]) > 100
    assert_same_tables(compiled_db, python_db)
    assert_same_tables(compiled_db, compiled3)
    assert_same_tables(python_db, python3)


@needs_core
@pytest.mark.filterwarnings("ignore:overflow encountered in scalar multiply:RuntimeWarning")  # the numpy path, seed 11
def test_scan_with_other_options_is_the_same_on_both_cores(monkeypatch, tmp_path):
    """Fixed shingles, no containment, another seed and permutation count: other parameters
    of the core."""
    corpus = tmp_path / "seeds"
    shutil.copytree(SEEDS, corpus)
    (corpus / "extra.txt").write_text(
        "\n".join(["關(guān)于ＸＸ同志的<b>报告</b>&amp;说明", "Ελληνικά ΟΔΥΣΣΕΥΣ e\u0301 😀 𠀀𠀁𠀂𠀃", "x月xx日某某在某些地区召开会议"] * 3),
        encoding="utf-8",
    )
    dbs = _scan_both(monkeypatch, corpus, tmp_path, shingle_size=4, containment=0.0, seed=11, num_perm=64, threshold=0.5, min_chars=3)
    for other in dbs[1:]:
        assert_same_tables(dbs[0], other)


# -- 7. the version names the core -----------------------------------------------------------------


def test_core_name_says_which_core(monkeypatch):
    if compiled._core is not None:
        assert compiled.core_name() == "compiled"
    else:
        assert compiled.core_name().startswith("python (") and "not built" in compiled.core_name()
    monkeypatch.setenv("DEDUP_CORE", "python")
    if compiled._core is not None:
        assert compiled.core_name() == "python (DEDUP_CORE=python)"
    monkeypatch.setattr(compiled, "_core", None)
    assert compiled.core_name().startswith("python (") and compiled.core_name() != "python (DEDUP_CORE=python)"


def test_version_names_the_core(monkeypatch):
    from dedup import __version__
    from dedup.apps.cli import cli

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    assert f"core: {compiled.core_name()}" in result.output, result.output
    result = CliRunner().invoke(cli, ["--version"], env={"DEDUP_CORE": "python"})
    assert result.exit_code == 0
    expected = "python (DEDUP_CORE=python)" if compiled._core is not None else compiled.core_name()
    assert f"core: {expected}" in result.output, result.output


@pytest.mark.parametrize("env, expected", [({}, None), ({"DEDUP_CORE": "python"}, "python (DEDUP_CORE=python)")])
def test_version_names_the_core_in_a_new_process(env, expected):
    """The version is computed when asked, not when the CLI module is imported."""
    full_env = {k: v for k, v in os.environ.items() if k != "DEDUP_CORE"} | env
    result = subprocess.run([sys.executable, "-m", "dedup", "--version"], capture_output=True, text=True, timeout=60, env=full_env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    if expected is None:
        expected = "compiled" if compiled._core is not None else "python ("
    assert f"core: {expected}" in result.stdout, result.stdout


@needs_core
@examples(200)
@given(st.lists(st.one_of(core_text, rich_text, pinyin_text, st.text(max_size=5)), max_size=5), st.sampled_from([0.9, 0.0]))
def test_a_lookup_signs_its_keys_as_the_numpy_path(monkeypatch, keys, containment):
    """``index.sign_for_lookup`` (the service's /query) signs on the core: the band codes,
    anchor codes and set sizes of the numpy reference, with and without anchors."""
    from dedup.config import ScanConfig
    from dedup.store.index import sign_for_lookup

    config = ScanConfig(containment=containment)
    fast_signs = sign_for_lookup(keys, config)
    with monkeypatch.context() as mp:
        mp.setenv("DEDUP_CORE", "python")
        assert sign_for_lookup(keys, config) == fast_signs
