r"""Normalization: turn a paragraph into the key that fingerprints and shingles are made from.

The key keeps only the characters that carry content -- letters (with their combining marks),
digits, CJK ideographs and ``PLACEHOLDER`` -- so that two copies of a paragraph that differ only
in what scrapers and converters do to reused text get the same key, or keys whose character
5-grams mostly agree. What the steps undo, in the order they run (``STEPS``):

1. ``nfkc``              full-width letters and punctuation, compatibility characters, U+3000
2. ``strip_html``        tags and entities that leak into scraped text
3. ``strip_pinyin``      ``關(guān)``: tone-marked pinyin a broken converter put after a character
4. ``fold_script``       traditional -> simplified characters (OpenCC ``t2s``)
5. ``fold_placeholders`` ``xx``, ``XX``, ``**``, ``×××``, ``某某``, ``○○`` -> one ``PLACEHOLDER``
6. ``lowercase``         ``str.lower``
7. ``strip_punctuation`` everything that is not a letter, digit, mark, ideograph or placeholder

Why this order: NFKC runs first so every later pattern sees half-width ASCII (full-width
``（guān）`` brackets, ``ｘｘ`` and ``＊`` become ``(guān)``, ``xx`` and ``*``). Entities are
decoded before anything reads brackets or symbols (``&times;`` is a ``×`` placeholder). Pinyin
goes before the script fold, because OpenCC converts by phrase and ``藉(jiè)口`` hides the
phrase ``藉口`` (-> ``借口``). Placeholders are folded after the script fold, so the ordinary
words spared from folding are listed once, simplified (``某种``, never ``某種``), and before
``strip_punctuation``, which would delete ``*``, ``×`` and ``○``. The fold handles ``X`` and
``x`` alike, so lowercasing may come after it. ``make_normalizer`` always applies the steps in
this order, whatever order it is given; the tests check each of these reasons.

Decisions worth knowing:

- ``strip_pinyin`` removes a bracket group only if it holds ONE syllable that is spelled like
  pinyin, is lowercase, carries a tone mark and directly follows a non-space character. Every
  junk group in the seeds is tone-marked (``(guān)``, 5,217 of them in seed 003), while toneless
  ``(a)``, ``(an)``, ``(de)`` after an ideograph are more often list markers or abbreviations
  than pinyin, so they are kept (``們(men)`` is a known miss). A CJK predecessor is not
  required: where the converter also garbled the character, the junk follows mojibake such as
  ``??偨Y(jié)``, and ``當?shù)攸h委`` even lost its ``(`` to a ``?``.
- ``fold_placeholders`` folds a run of ``x X × *`` unless it touches a letter, digit or mark
  outside CJK (``index``, ``Linux``, ``x86``, ``3x3``, ``5*3``, ``**bold**`` stay); a lone ``x`` or
  ``X`` is folded too (``第x次``, ``x月xx日``, and also English ``x = 1`` and Roman ``XX世纪``:
  over-folding costs little, since every copy folds the same way). A run of ``*`` that begins a
  line before a space is a comment or list marker, not a placeholder (`` * Permission``).
  ``某`` is folded except in
  the ordinary words 某些 某种 某个 某一 某方面 某处 某样 某类 某时; ``某人``, ``某地``,
  ``某日`` fold, like the ``xx`` they stand in for. Runs of ``○ 〇`` fold unless they touch a
  numeral (``二〇二〇年`` stays).
- A ``U+E000`` already in the input reads as a placeholder; mojibake of GBK's user-defined area
  can produce one. Other private-use characters are dropped with the punctuation.
- Every step is idempotent, and so is the pipeline, even where removing punctuation joins
  characters (``x,x``; ``e!\u0301``, which ``strip_punctuation`` composes to ``é``), except
  where OpenCC converts a phrase by its context: ``藉，口`` keeps ``藉`` but its key ``藉口``
  converts to ``借口`` (an xfail in the tests).

Speed on data/seeds/003 (273 KB, traditional, 5,217 pinyin groups), one core, one call per
line as a scan makes them, each step fed the output of the steps before it, in MB/s of UTF-8
input: whole pipeline 14 (26 on the simplified seed 001); fold_script 43, strip_pinyin 68,
strip_punctuation 90, fold_placeholders 117, nfkc 234, lowercase 630, strip_html 4,200.
OpenCC is the slow step, so text without a character t2s can change skips it, and so do
placeholder folding and pinyin stripping for text without the characters they look for: on
the generated 100 MB dump (17% of paragraphs traditional) the pipeline runs at ~21 MB/s a core. Importing the module takes ~0.1 s (character
classes built from the Unicode database).

    >>> normalize("關(guān)于疫情防控，ＸＸ同志指出：")
    '关于疫情防控\ue000同志指出'
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache

from ..errors import ConfigError

__all__ = ["STEPS", "DEFAULT_STEPS", "PLACEHOLDER", "make_normalizer", "normalize"]

PLACEHOLDER = "\ue000"
"""What every anonymising placeholder folds to: a private-use character, so never real text."""

# -- character classes ----------------------------------------------------------------------

# Ideographs and the scripts written without spaces around them (kana, Hangul and its jamo),
# plus the CJK symbols block. A placeholder touching one of these stands alone, as in 第xx次.
_CJK_RANGES = (
    (0x1100, 0x11FF),
    (0x3000, 0x9FFF),
    (0xA960, 0xA97F),
    (0xAC00, 0xD7FF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3FFFF),
)


def _is_mark(char: str) -> bool:
    """Combining marks: vowel signs of Indic and Thai scripts are parts of letters. Variation
    selectors and the marks for symbols (keycaps) belong to emoji, which are removed."""
    return unicodedata.category(char) in ("Mn", "Mc") and not (
        "\ufe00" <= char <= "\ufe0f" or "\u20d0" <= char <= "\u20ff" or char >= "\U000e0100"
    )


def _classes() -> tuple[str, str, str]:
    r"""Regex class bodies, computed once from the Unicode database (~60 ms at import).

    punctuation    BMP characters that are not content: not a letter or digit of any script
                   (re's ``\w`` but ``_``), not a combining mark, not the placeholder
    word           BMP content characters outside ``_CJK_RANGES`` but the placeholder: a
                   placeholder touching one is part of a word (index, x86, the mark in i̇x).
                   Astral letters count as CJK here: rare, and kept by strip_punctuation, so
                   folding stays idempotent, and the class stays a fast bitmap
    astral_marks   combining marks above the BMP, for the astral pass of strip_punctuation
    """
    found: dict[str, list[list[int]]] = {"punctuation": [], "word": [], "astral_marks": []}

    def add(name: str, cp: int) -> None:
        ranges = found[name]
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])

    for cp in range(0x20000):  # above are ideographs, tags, private use: no marks
        char = chr(cp)
        mark = not char.isalnum() and _is_mark(char)
        if cp >= 0x10000:
            if mark:
                add("astral_marks", cp)
        elif not (char.isalnum() or mark or char == PLACEHOLDER):
            add("punctuation", cp)
        elif char != PLACEHOLDER and not any(a <= cp <= b for a, b in _CJK_RANGES):
            add("word", cp)

    def body(ranges: list[list[int]]) -> str:
        esc = re.escape
        return "".join(esc(chr(a)) + (f"-{esc(chr(b))}" if b > a else "") for a, b in ranges)

    return body(found["punctuation"]), body(found["word"]), body(found["astral_marks"])


_PUNCTUATION, _WORD, _ASTRAL_MARKS = _classes()


# -- 1. nfkc ---------------------------------------------------------------------------------


# NFKC's slow path costs ~50 ns a character; most Chinese text needs only these replacements,
# each exactly what NFKC does to that character, after which the fast check usually passes.
_FULLWIDTH_RE = re.compile("[\uff01-\uff5e]")  # full-width ASCII: NFKC subtracts 0xFEE0
_COMMON_NFKC = (("\xa0", " "), ("\u3000", " "), ("\u2026", "..."))


def nfkc(text: str) -> str:
    """Apply Unicode NFKC: full-width ASCII to half-width, compatibility characters, U+3000.

    Scraped Chinese text mixes ``（ＡＢ）`` and ``(AB)`` freely; every later step can then match
    half-width ASCII only. The common replacements run first as plain ``str.replace``
    (replacing a character by its own NFKC form leaves the NFKC of the whole unchanged), and
    full NFKC runs only if something else is left.

        >>> nfkc("（ＸＸ）\u3000２０２２年①…")
        '(XX) 2022年1...'
    """
    if unicodedata.is_normalized("NFKC", text):
        return text
    for char, replacement in _COMMON_NFKC:
        if char in text:
            text = text.replace(char, replacement)
    for char in set(_FULLWIDTH_RE.findall(text)):
        text = text.replace(char, chr(ord(char) - 0xFEE0))
    if unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFKC", text)


# -- 2. strip_html ---------------------------------------------------------------------------

# Only names that are HTML elements may appear bare (<p>, <br>, <b>); any name may appear as a
# closing tag, self-closing, or with name="value" attributes. This spares "a < b > c",
# "<<书名>>", "x<y>z" and "a<b and b>c", none of which is a tag.
_HTML_NAMES = (
    "a abbr address area article aside audio b base bdi bdo big blockquote body br button canvas "
    "caption center cite code col colgroup dd del details dfn dialog div dl dt em embed fieldset "
    "figcaption figure font footer form frame frameset h1 h2 h3 h4 h5 h6 head header hr html i "
    "iframe img input ins kbd label legend li link main map mark meta nav nobr noscript object ol "
    "optgroup option p param pre q s samp script section select small source span strike strong "
    "style sub summary sup table tbody td template textarea tfoot th thead time title tr tt u ul "
    "var video wbr"
).split()
_NAME = r"[A-Za-z][A-Za-z0-9:._-]*"
_ATTR = r"""\s+[^\s<>"'=/]+\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s<>"'=`]+)"""
# Comments and script/style elements with their content are found by _strip_tags: as
# alternatives of one regex (``<!--.*?-->``), every unclosed opener scanned to the end of the
# text, so a paragraph of many unclosed ``<!--`` took seconds per 100 KB (found by fuzzing).
_ELEMENT_OPEN_RE = re.compile(r"<!--|<(script|style)\b[^<>]*>", re.IGNORECASE)
_ELEMENT_CLOSE_RES = {"--": re.compile("-->"), **{name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in ("script", "style")}}
_TAG_RE = re.compile(
    rf"</{_NAME}\s*>"  # closing tag
    rf"|<(?:{'|'.join(sorted(_HTML_NAMES, key=len, reverse=True))})(?:{_ATTR})*\s*/?>"
    rf"|<{_NAME}(?:{_ATTR})+\s*/?>"  # any name with attributes
    r"|<[A-Za-z][A-Za-z0-9]*:[A-Za-z][A-Za-z0-9._-]*\s*/?>"  # namespaced, as Word's <o:p>
    rf"|<{_NAME}\s*/>",  # any name, self-closing
    re.DOTALL | re.IGNORECASE,
)
# Semicolon-terminated only: "&copy=2" in a URL is not an entity, whatever HTML5 says.
_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _unescape(match: re.Match) -> str:
    return html.unescape(match.group())


def _strip_tags(text: str) -> str:
    """Remove comments and script/style elements (with their content), and the tags between
    them, leftmost first as one regex of all of them would, in time linear in the text: once
    an opener has no closer after it, no later opener of its kind has one either, so it is
    never looked for again (an unclosed opener stays, and a bare ``<script>`` goes as a tag).
    Tags are removed from each piece kept between elements, never from the pieces joined: a
    tag holds no ``<``, so it never spans a removed element, and joining first would make tags
    of what surrounds one (``<p<!---->>`` is not a ``<p>``).

        >>> _strip_tags("a<!-- b -->c<script x=1>d</SCRIPT >e<b>f<!-- g"), _strip_tags("<p<!---->>")
        ('acef<!-- g', '<p>')
    """
    out, pos, start, unclosed = [], 0, 0, set()
    while (opener := _ELEMENT_OPEN_RE.search(text, pos)) is not None:
        # by length, not by lowercasing: the opener matches case-insensitively, so "scrıpt"
        # (dotless ı) and "SCRİPT" open a script element too, and lower() gives no key for them
        name = opener.group(1)
        kind = "--" if name is None else ("script" if len(name) == 6 else "style")
        closer = None if kind in unclosed else _ELEMENT_CLOSE_RES[kind].search(text, opener.end())
        if closer is None:
            unclosed.add(kind)
            pos = opener.start() + 1
            continue
        out.append(_TAG_RE.sub("", text[start:opener.start()]))
        start = pos = closer.end()
    out.append(_TAG_RE.sub("", text[start:]))
    return "".join(out)


def strip_html(text: str) -> str:
    """Remove HTML/XML tags and decode entities that leaked into scraped text.

    Page templates leave ``<legend id="x"></legend>`` and ``&nbsp;`` in dumps, and they are
    not the paragraph's text. Entities are decoded, not deleted (``&amp;`` is an ``&``), and
    the decoded text is made NFKC again, since an entity can spell a full-width character.
    Decoding and stripping repeat until nothing changes (``&amp;lt;br&amp;gt;``), so the step
    is idempotent.

        >>> strip_html('<legend id="ppnor"></legend>字號:<br/>R&amp;D&nbsp;部')
        '字號:R&D 部'
        >>> strip_html("a < b > c, <<书名>>")
        'a < b > c, <<书名>>'
    """
    if "<" not in text and "&" not in text:
        return text
    while True:
        before = text
        if "&" in text:
            text = _ENTITY_RE.sub(_unescape, text)
            if text != before:
                text = unicodedata.normalize("NFKC", text)
        text = _strip_tags(text) if "<" in text else text
        if text == before:
            return text


# -- 3. strip_pinyin -------------------------------------------------------------------------

_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜḿńňǹ"
_VOWEL = {
    "a": "[aāáǎà]",
    "e": "[eēéěè]",
    "i": "[iīíǐì]",
    "o": "[oōóǒò]",
    "u": "[uūúǔù]",
    "ü": "[üǖǘǚǜ]",
}
_A, _E, _I, _O, _U, _Ü = (_VOWEL[v] for v in "aeiouü")
# The finals a ai ao an ang, e ei er en eng, i ia iao ian iang ie iu iong in ing, o ou ong,
# u ua uai uan uang ue ueng ui uo un, ü üe üan ün (v for ü), as a trie: re tries the branches
# of an alternation one by one, and this runs at every "(" after a character in seed 003.
_FINAL = (
    rf"{_A}(?:{_I}|{_O}|ng?)?"
    rf"|{_E}(?:{_I}|r|ng?)?"
    rf"|{_I}(?:{_A}(?:{_O}|ng?)?|{_E}|{_U}|{_O}ng|ng?)?"
    rf"|{_O}(?:{_U}|ng)?"
    rf"|{_U}(?:{_A}(?:{_I}|ng?)?|{_E}(?:ng)?|{_I}|{_O}|n)?"
    rf"|[{_Ü[1:-1]}v](?:{_E}|{_A}n|n)?"
)
_SYLLABLE = (
    rf"(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?(?:{_FINAL})"
    "|h?[mḿ]|h?[nńňǹ]g?"  # the interjections m, n, ng, hm, hng
)
# "(" after a non-space character, or the "?" that mojibake left of a "(" (當?shù)攸h委 in seed
# 003), then one syllable with a tone mark somewhere inside, then ")". The pattern opens with
# "(" or "?", not with the look-behind, so that re can skip ahead to candidates. The tone mark
# is looked for within a syllable's length (6 letters at most, as in "zhuang"): looked for up to
# the next parenthesis, every "?" of a long line without one scanned the rest of the line.
_PINYIN_RE = re.compile(
    rf"(?:\((?<=[^\s(\[{{<]\()|\?)(?=[^()]{{0,5}}[{_TONED}])(?:{_SYLLABLE})\)"
)


def strip_pinyin(text: str) -> str:
    """Remove the tone-marked pinyin syllable a broken converter put after a character.

    Seed 003 has ``關(guān)``, ``領(lǐng)``, ``總結(jié)`` thousands of times; left in, every such
    group breaks five 5-gram shingles. Only a lowercase, tone-marked, single syllable directly
    after a non-space character goes; ``(一)``, ``(2022年)``, ``(PDF)``, ``(xx)`` and the
    toneless ``(an)`` stay (see the module docstring). So does ``?shù)``, where mojibake turned
    the ``(`` into ``?``.

        >>> strip_pinyin("總結(jié)發(fā)展態(tài)勢，(一)領(lǐng)導")
        '總結發展態勢，(一)領導'
        >>> strip_pinyin("方案(an)、Beijing (Běijīng)")
        '方案(an)、Beijing (Běijīng)'
    """
    if ")" not in text:
        return text
    n = 1
    while n:  # "關(gu(guān)ān)" hides a second group inside the first
        text, n = _PINYIN_RE.subn("", text)
    return text


# -- 4. fold_script --------------------------------------------------------------------------

_converter = None
_t2s_trigger_re = None

# Characters that OpenCC's t2s phrase table (TSPhrases) changes inside a phrase although the
# character table leaves them alone, as 藉 in 憑藉 -> 凭借 and 沈 in 深沈 -> 深沉. Listed from
# OpenCC 1.4's dictionary (``opencc_dict -i TSPhrases.ocd2 -t text``); a test dumps the
# installed dictionary the same way and checks that the list is complete.
T2S_PHRASE_ONLY = "么俱哩坏彷沈甦瞭藉衹覆"


def opencc_t2s():
    """The t2s converter, created once on first use (loading its dictionaries takes ~30 ms)."""
    global _converter
    if _converter is None:
        import opencc

        try:
            _converter = opencc.OpenCC("t2s")
        except Exception:  # older bindings want the file name
            _converter = opencc.OpenCC("t2s.json")
    return _converter


def t2s_triggers() -> str:
    """Every BMP character whose presence can make t2s change a text, sorted.

    These are the characters t2s converts on their own (found by converting every BMP
    character once, ~0.1 s) and ``T2S_PHRASE_ONLY``. A text with none of them, and nothing
    above the BMP, is already simplified: OpenCC would return it unchanged.
    """
    converter = opencc_t2s()
    chars = [chr(cp) for cp in range(0x80, 0x10000) if not 0xD800 <= cp <= 0xDFFF and cp != 0x0A]
    converted = converter.convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):  # a converter that maps across lines: never skip it
        return "".join(chars)
    changed = {c for c, out in zip(chars, converted) if out != c}
    return "".join(sorted(changed | set(T2S_PHRASE_ONLY)))


def _needs_t2s(text: str) -> bool:
    global _t2s_trigger_re
    if _t2s_trigger_re is None:
        _t2s_trigger_re = re.compile(f"[{re.escape(t2s_triggers())}\U00010000-\U0010ffff]")
    return _t2s_trigger_re.search(text) is not None


def fold_script(text: str) -> str:
    """Convert traditional Chinese characters to simplified ones with OpenCC ``t2s``.

    The same speech circulates in both scripts (seed 001 reappears in traditional in seed 003).
    OpenCC runs at ~40 MB/s, so a text goes through it only if it holds a character t2s can
    change (``t2s_triggers``) or one above the BMP; a simplified paragraph is checked at
    ~1 GB/s and returned as it is. The text must be valid Unicode (no lone surrogates), as
    strict UTF-8 decoding gives.

        >>> fold_script("總結發展態勢，某種意義上")
        '总结发展态势，某种意义上'
    """
    if text.isascii() or not _needs_t2s(text):
        return text
    text = opencc_t2s().convert(text)
    if "苧" in text:  # t2s maps 薴 to 苧 and 苧 to 苎: the one chain among single characters
        text = text.replace("苧", "苎")
    return text


# -- 5. fold_placeholders --------------------------------------------------------------------

_NUMERAL = "零一二三四五六七八九十百千万亿两〇○0-9"
# 某 in an ordinary word ("some", "a certain kind of") is not hiding a name.
_MOU_WORDS = ("些", "种", "个", "一", "方面", "处", "样", "类", "时")
# Each alternative opens with its character class, so that re can skip ahead to candidates, and
# looks behind two characters from there: "[x*](?<!W.)" is "(?<!W)[x*]". Runs are possessive,
# so that "**a" does not fold its first "*" alone.
_PLACEHOLDER_ATOM = (
    rf"[xX×*](?<![{_WORD}×*].)[xX×*]*+(?![{_WORD}])"  # not in index, x86, 3x3, **bold**
    rf"|[○〇](?<![{_NUMERAL}].)[○〇]*+(?![{_NUMERAL}])"  # not in 二〇二〇
    rf"|某(?!{'|'.join(_MOU_WORDS)})"  # not in 某些, 某种
)
_PLACEHOLDER_RE = re.compile(rf"(?:{_PLACEHOLDER_ATOM})(?:{_PLACEHOLDER_ATOM})*")
# A run of "*" that begins a line, before white space or the line's end, marks a comment or a
# list item (" * Permission to use"); as a placeholder on every line it made a licence in a C
# comment a stranger to the same licence without one.
_LINE_MARKER_RE = re.compile(r"(?m)^([^\S\n]*)\*+(?=\s|$)")
# The characters every atom opens with: a text without one has nothing to fold, and a search
# for a plain class is ~5x faster than the pattern's look-arounds at every x and 某.
_PLACEHOLDER_HINT_RE = re.compile("[xX×*○〇某]")


def fold_placeholders(text: str) -> str:
    """Fold each run of anonymising placeholders (``xx``, ``**``, ``×××``, ``某某``) to one.

    Templates hide names and numbers with whatever the editor typed: ``xx市``, ``**市``,
    ``某市`` are the same text. A run of placeholders becomes one ``PLACEHOLDER``; runs that
    are part of a word (``index``, ``x86``, ``3x3``) and the ordinary words ``某些``, ``某种``
    and the like stay (see the module docstring).

        >>> fold_placeholders("x月xx日，XX同志、**和某某在某些地区")
        '\\ue000月\\ue000日，\\ue000同志、\\ue000和\\ue000在某些地区'
        >>> fold_placeholders("Linux x86 index 3x3 二〇二〇年")
        'Linux x86 index 3x3 二〇二〇年'
        >>> fold_placeholders(" * Permission to use\\n *\\n * is preserved. ** ")
        '   Permission to use\\n  \\n   is preserved. \\ue000 '
    """
    if _PLACEHOLDER_HINT_RE.search(text) is None:
        return text
    if "*" in text:
        text = _LINE_MARKER_RE.sub(r"\1 ", text)
    return _PLACEHOLDER_RE.sub(PLACEHOLDER, text)


# -- 6. lowercase ----------------------------------------------------------------------------


def lowercase(text: str) -> str:
    """Lowercase with ``str.lower``: ``PDF`` and ``pdf`` are the same text.

    Runs after NFKC, which maps full-width capitals to ASCII capitals; ``casefold`` would only
    add ``ß`` -> ``ss`` and friends, rare in this corpus.

        >>> lowercase("COVID-19 Größe")
        'covid-19 größe'
    """
    return text.lower()


# -- 7. strip_punctuation --------------------------------------------------------------------


# re tests a class of BMP characters with a bitmap, but "\w" with a Unicode lookup and astral
# ranges one by one, so the BMP gets an explicit class (~1.5x faster), and the rare text with
# astral characters (emoji, rare ideographs) a second, exact pass. The content between
# punctuation is collected rather than the punctuation replaced: Chinese text has a mark every
# ten characters or so, and one join is cheaper than that many replacements.
_CONTENT_BMP_RE = re.compile(f"[^{_PUNCTUATION}]+")  # and every astral character
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")
_PUNCTUATION_ASTRAL_RE = re.compile(f"(?:(?![\\w{_ASTRAL_MARKS}])[\U00010000-\U0010ffff])+")


def strip_punctuation(text: str) -> str:
    """Remove whitespace, punctuation, symbols and emoji: all but letters, digits, placeholders.

    Line breaks, ``，`` versus ``,`` and ``“”`` versus ``""`` are where copies differ most, and
    they carry no content; removing them also makes 5-gram shingles span more text.

        >>> strip_punctuation("一、“外防输入”——第5条；snake_case ✅ नमस्ते!")
        '一外防输入第5条snakecaseनमस्ते'
    """
    stripped = "".join(_CONTENT_BMP_RE.findall(text))  # 2x faster than sub() of the complement
    if _ASTRAL_RE.search(stripped) is not None:
        stripped = _PUNCTUATION_ASTRAL_RE.sub("", stripped)
    # Removing "!" from "e!\u0301" or "ᄀ!ᅡ" joins what NFKC composes; compose it now, or the
    # key would change when normalized again.
    if (
        len(stripped) != len(text)
        and not unicodedata.is_normalized("NFKC", stripped)
        and unicodedata.is_normalized("NFKC", text)
    ):
        stripped = unicodedata.normalize("NFKC", stripped)
    return stripped


# -- the pipeline ----------------------------------------------------------------------------

STEPS: dict[str, Callable[[str], str]] = {
    "nfkc": nfkc,
    "strip_html": strip_html,
    "strip_pinyin": strip_pinyin,
    "fold_script": fold_script,
    "fold_placeholders": fold_placeholders,
    "lowercase": lowercase,
    "strip_punctuation": strip_punctuation,
}
"""Every step, by name, in the order they run."""

DEFAULT_STEPS: tuple[str, ...] = tuple(STEPS)
"""The steps a default scan applies: all of them."""


def make_normalizer(steps: Sequence[str] = DEFAULT_STEPS) -> Callable[[str], str]:
    """Return a function text -> key applying the named steps, always in ``STEPS`` order.

    A name given twice is applied once. An unknown name raises ``ConfigError``. This is the
    reference; ``compiled.make_normalizer`` gives the same function on the compiled core.

        >>> make_normalizer(["lowercase", "nfkc"])("ＡＢＣ")
        'abc'
        >>> make_normalizer(["nfkc", "strip_space"])
        Traceback (most recent call last):
        dedup.errors.ConfigError: unknown normalization step 'strip_space'; known steps: nfkc, \
strip_html, strip_pinyin, fold_script, fold_placeholders, lowercase, strip_punctuation
    """
    if isinstance(steps, str):
        steps = (steps,)
    unknown = [name for name in steps if name not in STEPS]
    if unknown:
        raise ConfigError(
            f"unknown normalization step {unknown[0]!r}; known steps: {', '.join(STEPS)}"
        )
    chosen = set(steps)
    functions = tuple(step for name, step in STEPS.items() if name in chosen)

    def normalizer(text: str) -> str:
        for step in functions:
            text = step(text)
        return text

    names = tuple(name for name in STEPS if name in chosen)
    normalizer.steps = names  # type: ignore[attr-defined]
    return normalizer


@lru_cache(maxsize=32)
def _cached_normalizer(steps: tuple[str, ...]) -> Callable[[str], str]:
    return make_normalizer(steps)


def normalize(text: str, steps: Sequence[str] = DEFAULT_STEPS) -> str:
    """The key of ``text`` under ``steps``; loops should use ``make_normalizer`` instead.

        >>> normalize("  第五，ＸＸ市委  ", steps=["nfkc", "strip_punctuation"])
        '第五XX市委'
    """
    return _cached_normalizer((steps,) if isinstance(steps, str) else tuple(steps))(text)
