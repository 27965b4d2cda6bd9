"""Synthetic scraped dumps whose lineage is known: the ground truth of the quality benchmark.

    python -m bench.generate --out bench/out/dump --docs 500
    python -m bench.generate --out bench/out/big --size 1GB --seed 7

Writes, under ``--out DIR``:

    DIR/docs/s03/d000/000123.txt   documents of site 3, one paragraph per line, UTF-8 (scan DIR/docs)
    DIR/truth.jsonl            one record per line of every document (see below)
    DIR/passages.jsonl         one record per copied run of consecutive paragraphs (see below)
    DIR/generate.json          parameters, seed pool, counts

The documents live one folder below DIR so that a scan of ``DIR/docs`` never reads the truth
file as a corpus (``.jsonl`` is a corpus format). Paths in the truth are relative to ``DIR/docs``.

Truth record, one per non-empty line, in file order::

    {"path": "s03/d000/000123.txt", "line": 7, "source": "seed:003:17", "copy": true,
     "partial": false, "mutations": ["script", "edit"]}

- ``source`` names the original: ``seed:<file>:<line>`` (a paragraph of ``data/seeds``; file is
  the index in sorted order, line 1-based), ``new:<n>`` (fresh text made here) or
  ``boilerplate:<k>`` (``BOILERPLATES[k]``: page furniture, the only lines the truth calls
  boilerplate). One source is one true cluster.
- ``copy`` is false exactly once per source: its first appearance, which is never mutated.
- ``mutations`` lists what was done to a copy, in the order applied (see ``MUTATIONS``); a
  mutation is recorded only when it changed the text.
- ``partial`` marks a line holding only part of its source: a truncated copy, one with a
  sentence dropped, one half of a line broken in two (both halves carry the source and the
  ``split`` mutation), or one line of a copy hard-wrapped at a fixed width (``wrap``: every
  line carries the source).

Sites: the documents belong to ``--sites`` sites written one after another (site k holds a share
of the dump proportional to 1/(k+1)), each with its own page furniture (``SITE_FURNITURE``): a
navigation line and a banner at the head, a separator between the sections of the content, share
buttons, a copyright line and a disclaimer at the tail, each on a share of the site's pages
(``FURNITURE_RATES``). Some pages also open their content with a prefix shared by every site
(``PREFIXES``, the "小编" intro). Content paragraphs, copied or not, are never furniture, however
many pages of however many sites hold them. ``--flat`` writes the same pages without a folder
per site, for corpora where nothing in a path tells the sites apart.

Copied runs. A share ``run_rate`` of the documents also paste a section: a run of 3 to 8
consecutive paragraphs of an earlier document (or of an earlier part of the same one), each a
copy mutated as any copy is, with now and then a paragraph of the run left out or a fresh one
put in between (at most one in a row: a gap). Their lines are in ``truth.jsonl`` as copies of
their sources; ``passages.jsonl`` says which lines were pasted together, one record per run::

    {"source_path": "d000/000012.txt", "source_lines": [4, 9], "copy_path": "d000/000031.txt",
     "copy_lines": [17, 23], "paragraphs": 6}

(first and last line on each side; ``paragraphs``: how many of the run were copied).

Where the text comes from:

- seed paragraphs: non-empty lines of the seed files, stripped, at least 20 characters, minus
  HTML, spam and "小编" boilerplate lines, minus near-duplicates of an earlier seed paragraph
  (the seeds copy each other; two sources must never be near-duplicates, or the truth lies);
- new paragraphs: spliced clauses. The seed paragraphs are split into clauses (on ，、；：。！？,
  simplified script); a new clause is the first half of one clause and the second half of
  another, and a new paragraph strings ~20 of them together. With ~8,000 halves on each side,
  two paragraphs share a half now and then and a whole clause almost never, so the 5-gram
  Jaccard similarity of a new paragraph to every seed and every other new paragraph stays far
  below 0.5 (the tests check < 0.3, and containment < 0.5). The text of ``new:<n>`` is a
  pure function of (seed, n), so copies regenerate it instead of keeping the dump in memory.

Determinism: one ``random.Random(seed)`` drives every decision, iteration is in sorted order,
and new text is hashed from (seed, n): the same seed and parameters give byte-identical output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import struct
import sys
import time
from array import array
from collections import Counter
from functools import cache
from itertools import chain
from operator import itemgetter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import opencc

__all__ = [
    "BOILERPLATES",
    "PREFIXES",
    "SITE_FURNITURE",
    "MUTATIONS",
    "GenerateError",
    "GenerateParams",
    "GenerateStats",
    "SourcePool",
    "doc_path",
    "furniture_index",
    "site_doc_path",
    "generate",
    "jaccard",
    "main",
    "mutate",
    "parse_size",
    "shingles",
    "similarity_key",
]

FORMAT_VERSION = 5  # 2: the reorder and insert mutations; 3: sites with their page furniture; 4: copied runs (passages.jsonl); 5: drop and wrap
PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_SEED_CHARS = 20
SHINGLE_SIZE = 5

_S2T = opencc.OpenCC("s2t")
_T2S = opencc.OpenCC("t2s")


class GenerateError(Exception):
    """The dump cannot be generated as asked; ``str(error)`` says why and what to do."""


# --------------------------------------------------------------------------------------------
# Text helpers shared with the tests: what "far from" and "a copy of" mean here.

PINYIN_JUNK_RE = re.compile(r"[(（][a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+[)）]")
PLACEHOLDER_RE = re.compile(r"(?<![A-Za-z])(?:x+|X+)(?![A-Za-z])|\*+|×+|某")
_NOT_WORD_RE = re.compile(r"[\W_]+")


def similarity_key(text: str) -> str:
    """The text as a detector should compare it: no pinyin junk, simplified, no placeholders,
    letters and digits only.

    >>> similarity_key("關(guān)於xx市，發(fā)展!")
    '关于市发展'
    """
    text = PINYIN_JUNK_RE.sub("", text)
    text = _T2S.convert(text)
    text = PLACEHOLDER_RE.sub("", text)
    return _NOT_WORD_RE.sub("", text.lower())


def shingles(key: str, k: int = SHINGLE_SIZE) -> set[str]:
    """Character k-grams of a key; a key shorter than k is its own single shingle.

    >>> sorted(shingles("abcdef", 5))
    ['abcde', 'bcdef']
    """
    if len(key) <= k:
        return {key} if key else set()
    return {key[i : i + k] for i in range(len(key) - k + 1)}


def jaccard(a: set, b: set) -> float:
    """|A ∩ B| / |A ∪ B| (1.0 for two empty sets).

    >>> jaccard({1, 2, 3}, {2, 3, 4})
    0.5
    """
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


# --------------------------------------------------------------------------------------------
# The source pool: seed paragraphs, boilerplates and the generator of new paragraphs.

SPAM_WORDS = ("乱码", "在线观看", "免费视频", "视频播", "中文字幕", "日韩", "欧美", "一区", "二区")
HTML_RE = re.compile(r"<[^>]*>|&[a-z]+;|&#\d+;")
# Characters str.splitlines() treats as line breaks: they must never reach a document.
_LINE_BREAKS = str.maketrans({c: " " for c in "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})
CLAUSE_SPLIT_RE = re.compile(r"[，,、；;：:。！？!?\s]+")
MIN_CLAUSE, MAX_CLAUSE = 4, 40
MAX_NEW_CHARS = 800

# Boilerplate prefix lines shared by every site (a copied "小编" intro). Written to be far from
# each other and from the seed pool (the tests check it), so each one is a clean cluster of its own.
PREFIXES = (
    "下面是小编为大家整理的疫情防控工作会议讲话稿范文,供大家参考,希望能够帮助到大家。",
    "本文由网友投稿整理发布,仅供学习交流使用,如有侵权请联系网站管理员删除。",
    "写讲话稿的时候需要注意什么呢?有哪些格式需要注意呢?一起来看看小编精心挑选的范文吧。",
    "以下内容来源于互联网公开资料,版权归原作者所有,转载请注明出处并保留本声明。",
    "欢迎访问本站范文频道,更多精彩的会议讲话、工作总结、心得体会请持续关注本站更新。",
    "相关推荐:疫情防控工作总结、疫情防控心得体会、疫情防控应急预案、疫情防控方案合集。",
)

# Page furniture of each site: its lines by role (FURNITURE_ROLES), far from each other, from the
# prefixes and from the seed pool (the tests check it). A dump of more sites than these reuses
# them in turn (site k takes row k mod 8): two sites of one template, one source per line.
FURNITURE_ROLES = ("nav", "banner", "separator", "share", "copyright", "disclaimer")
SITE_FURNITURE = (
    ("首页 > 青松范文网 > 讲话稿 > 疫情防控讲话", "青松范文网为您提供最新最全的范文素材，每日更新海量文档",
     "↓↓↓ 点击下方链接查看更多同类范文 ↓↓↓", "分享到：微信 朋友圈 QQ空间 新浪微博",
     "Copyright © 2014-2023 青松范文网 版权所有 浙ICP备14021357号-2", "免责声明：本站文章仅代表作者观点，不代表青松范文网立场"),
    ("当前位置：启航文库 » 党政公文 » 会议发言", "启航文库：让写作更简单，会员可免费下载全部文档",
     "—— 启航文库精选内容，未完待续 ——", "觉得有用就转发给朋友吧：复制链接 | 生成海报",
     "©2019 启航文库 qihangwenku.com 苏ICP备19088412号 增值电信业务经营许可证",
     "如发现本页内容涉及侵权，请发送邮件至启航文库客服，我们将在三个工作日内处理"),
    ("您现在的位置是：笔杆子写作网首页 - 领导致辞", "专注机关材料写作十五年，笔杆子写作网陪您一起成长",
     "【广告】笔杆子写作网会员限时五折，立即开通", "喜欢这篇文章？点个赞再走吧，您的支持是笔杆子最大的动力",
     "笔杆子写作网 版权所有 未经书面授权禁止复制或建立镜像", "温馨提示：范文仅供参考，请结合本单位实际情况修改使用"),
    ("公文星空 | 首页 | 工作总结 | 心得体会 | 发言稿 | 登录注册", "本页面由公文星空编辑部审核发布，更新时间以页面显示为准",
     "★ 公文星空猜你喜欢：换一批 ★", "扫码关注公文星空公众号，回复关键词获取全文",
     "公文星空 (c) 2008-2024 All Rights Reserved 京公网安备11010802030151号", "特别声明：公文星空不对文章内容的准确性承担任何法律责任"),
    ("墨香文档站导航：范文大全 / 演讲稿 / 述职报告 / 主持词", "墨香文档站提醒您：请在电脑端打开以获得更佳的阅读体验",
     "（本文篇幅较长，建议收藏后慢慢看）", "打印本页 | 关闭窗口 | 返回顶部",
     "墨香文档站 鄂ICP备16007723号 联系邮箱：service@moxiang.net", "投诉举报电话：400-820-1234（工作日九点至十八点）"),
    ("千帆秘书网 → 材料频道 → 领导讲话 → 正文", "千帆秘书网手机版已上线，扫描右侧二维码随时随地查阅",
     "▲ 千帆秘书网提示：以下为正文第二部分 ▲", "下载此文档到电脑（doc格式，约两页）",
     "本站内容由千帆秘书网人工整理，引用须保留原文链接，违者必究", "千帆秘书网所有文档均经过人工校对，仍难免存在错漏，敬请谅解"),
    ("位置：知行材料库主页 >> 应急管理 >> 防疫专题", "知行材料库收录文章逾百万篇，欢迎各界读者来稿交流",
     "=== 知行材料库 · 延伸阅读 ===", "文章标签：防疫 基层 部署 动员",
     "知行材料库 © 2021 | 关于我们 | 联系我们 | 隐私政策 | 网站地图", "知行材料库郑重提醒：严禁将本站资料用于商业用途"),
    ("云帆范文吧 · 热门分类 · 讲话致辞 · 申请书 · 自查报告", "云帆范文吧温馨提醒：本站资料均来自用户上传",
     ">>> 云帆范文吧推荐：同类文章排行榜 <<<", "上一篇与下一篇请在页面底部切换查看",
     "云帆范文吧 粤ICP备20051128号 Powered by YunFan CMS", "网站备案信息及营业执照请在“关于云帆”页面查看"),
)  # fmt: skip
# Where a role sits on the page and how often a page of its site carries it (a separator: each
# gap between two sections of the page).
HEAD_ROLES, TAIL_ROLES = ("nav", "banner"), ("share", "copyright", "disclaimer")
FURNITURE_RATES = {"nav": 0.9, "banner": 0.6, "separator": 0.85, "share": 0.7, "copyright": 0.95, "disclaimer": 0.5}
MAX_SECTIONS = 3

# Every boilerplate source: ``boilerplate:<k>`` is BOILERPLATES[k].
BOILERPLATES = PREFIXES + tuple(chain.from_iterable(SITE_FURNITURE))


def furniture_index(site: int, role: str) -> int:
    """k of the boilerplate source ``boilerplate:<k>`` that is ``role`` on the pages of ``site``.

    >>> BOILERPLATES[furniture_index(9, "nav")] == SITE_FURNITURE[1][0]
    True
    """
    return len(PREFIXES) + (site % len(SITE_FURNITURE)) * len(FURNITURE_ROLES) + FURNITURE_ROLES.index(role)


def site_bounds(sites: int) -> list[float]:
    """Cumulative share of the dump where each site ends: site k holds a share proportional to
    1 / (k + 1) (a few big sites, a tail of small ones), the sites one after another.

    >>> [round(x, 3) for x in site_bounds(3)]
    [0.545, 0.818, 1.0]
    """
    weights = [1 / (k + 1) for k in range(sites)]
    total, running, bounds = sum(weights), 0.0, []
    for w in weights:
        running += w
        bounds.append(running / total)
    bounds[-1] = 1.0
    return bounds


def site_doc_path(site: int, i: int, j: int) -> str:
    """Relative path of document i, the j-th of its site: one folder per site, 1000 documents
    per folder below it, so that sorted paths are in the order the documents were written.

    >>> site_doc_path(3, 4567, 1200)
    's03/d001/004567.txt'
    """
    return f"s{site:02d}/d{j // 1000:03d}/{i:06d}.txt"


def is_junk_line(line: str) -> bool:
    """HTML fragments, spam keyword lists and "小编" site boilerplate: not paragraphs to copy.

    >>> is_junk_line('<sup id="ppnor"><input id="ppnor"></input></sup>')
    True
    >>> is_junk_line("亚洲免费乱码视频,日韩 欧美 国产 动漫 一区")
    True
    >>> is_junk_line("下面是小編為大家整理的,供大家參考。")
    True
    >>> is_junk_line("今天我们召开全县疫情防控工作调度会。")
    False
    """
    if HTML_RE.search(line) or "小编" in line or "小編" in line:
        return True
    return sum(word in line for word in SPAM_WORDS) >= 2


@dataclass(frozen=True)
class SeedParagraph:
    source: str  # seed:<file>:<line>
    text: str


class SourcePool:
    """Every original the generator can emit: seed paragraphs (``seed:f:l``), new paragraphs
    (``new:<n>``, made on demand from the run's seed) and boilerplates (``boilerplate:<k>``).
    """

    def __init__(self, seeds_dir: str | Path, seed: int) -> None:
        self.seeds_dir = _resolve_seeds_dir(seeds_dir)
        self.seed = seed
        self.files = sorted(p for p in self.seeds_dir.glob("*.txt") if p.is_file())
        if not self.files:
            raise GenerateError(
                f"no .txt seed files in {self.seeds_dir} - pass --seeds-dir pointing at them"
            )
        candidates: list[SeedParagraph] = []
        digest = hashlib.sha256()
        for f_idx, path in enumerate(self.files):
            raw = path.read_bytes()
            digest.update(path.name.encode() + b"\0" + raw)
            text = raw.decode("utf-8-sig", errors="replace")
            for l_idx, line in enumerate(text.split("\n"), start=1):
                line = line.translate(_LINE_BREAKS).strip()
                if len(line) >= MIN_SEED_CHARS and not is_junk_line(line):
                    candidates.append(SeedParagraph(f"seed:{f_idx:03d}:{l_idx}", line))
        self.seeds_sha256 = digest.hexdigest()
        self.n_candidates = len(candidates)
        self.seeds = _distinct(candidates)
        if not self.seeds:
            raise GenerateError(f"no usable paragraph (>= {MIN_SEED_CHARS} chars) in {self.seeds_dir}")
        self.clauses = _clauses(p.text for p in self.seeds)
        # which seeds hold each shingle of their similarity keys: a foreign sentence whose every
        # shingle one seed holds would be a copy of it
        self._seeds_of: dict[str, set[int]] = {}
        for n, p in enumerate(self.seeds):
            for shingle in shingles(similarity_key(p.text)):
                self._seeds_of.setdefault(shingle, set()).add(n)
        if len(self.clauses) < 200:
            raise GenerateError(
                f"only {len(self.clauses)} distinct clauses in {self.seeds_dir}; new text needs "
                "at least 200 - add seed files"
            )
        # Lengths of new paragraphs follow the seed paragraphs' lengths.
        self._lengths = sorted(min(len(p.text), MAX_NEW_CHARS) for p in self.seeds)
        # Every 16-bit value indexes these tables directly (clause i sits at i, i + n, i + 2n...),
        # so picking a clause is one C-level itemgetter call, not a Python loop.
        n = len(self.clauses)
        repeat = (1 << 16) // n + 1
        self._heads = ([c[: len(c) // 2] for c in self.clauses] * repeat)[: 1 << 16]
        self._tails = ([c[len(c) // 2 :] for c in self.clauses] * repeat)[: 1 << 16]
        self._mean_clause = sum(len(c) + 1 for c in self.clauses) / n
        self._max_clauses = round(MAX_NEW_CHARS / self._mean_clause) + 1
        # SHAKE output layout: 4 uint32 header values, then per clause a uint16 head index,
        # a uint16 tail index and a uint8 sentence end (unpacked only as far as needed).
        m = self._max_clauses
        self._digest_size = 16 + 5 * m
        self._tails_at, self._ends_at = 16 + 2 * m, 16 + 4 * m
        self._uint16s = [struct.Struct(f"<{k}H") for k in range(m + 1)]
        self.mean_bytes = sum(len(p.text.encode()) + 1 for p in self.seeds) / len(self.seeds)

    def holds_all(self, found: set[str]) -> bool:
        """Does one seed hold every shingle of ``found`` (a similarity key's)?"""
        holders = None
        for shingle in found:
            holders = self._seeds_of.get(shingle, set()) if holders is None else holders & self._seeds_of.get(shingle, set())
            if not holders:
                return False
        return holders is not None

    def new_paragraph(self, n: int) -> str:
        """The text of ``new:<n>``: spliced seed clauses (head of one, tail of another), a pure
        function of (pool, seed, n). The choices come from SHAKE-128 of "seed:n", so copies
        regenerate the text instead of the dump being held in memory.
        """
        buf = hashlib.shake_128(f"dedup-bench:{self.seed}:{n}".encode()).digest(self._digest_size)
        # little-endian whatever the machine: the same text everywhere
        length_pick, style, list_pick, list_kind = _HEADER.unpack_from(buf)
        target = max(MIN_SEED_CHARS, self._lengths[length_pick % len(self._lengths)])
        parts: list[str] = []
        if list_pick % 8 == 0:  # a list item, so that renumbering has something to renumber
            number = _CN_NUMBERS[1 + (list_kind >> 4) % 9]
            parts.append(("{}、", "（{}）", "{}是", "第{}，")[list_kind % 4].format(number))
        count = min(self._max_clauses, max(4, round(target / self._mean_clause)))
        uint16s = self._uint16s[count]
        heads = itemgetter(*uint16s.unpack_from(buf, 16))(self._heads)
        tails = itemgetter(*uint16s.unpack_from(buf, self._tails_at))(self._tails)
        # A quarter of the clauses end a sentence, the others a comma; the last ends the paragraph.
        ends = list(itemgetter(*buf[self._ends_at : self._ends_at + count])(_ENDS[style & 1]))
        ends[-1] = "。"
        parts.extend(chain.from_iterable(zip(heads, tails, ends)))
        return "".join(parts)


_HEADER = struct.Struct("<4I")
# Sentence end after a clause, indexed by a byte: "。" a quarter of the time, else a comma
# (full-width in some paragraphs, half-width in others, as in the seeds).
_ENDS = (("。",) * 64 + ("，",) * 192, ("。",) * 64 + (",",) * 192)


def _resolve_seeds_dir(seeds_dir: str | Path) -> Path:
    path = Path(seeds_dir)
    if not path.is_dir() and not path.is_absolute() and (PROJECT_ROOT / path).is_dir():
        path = PROJECT_ROOT / path
    if not path.is_dir():
        raise GenerateError(
            f"seeds folder {seeds_dir} not found - pass --seeds-dir pointing at the seed .txt files"
        )
    return path


def _distinct(
    candidates: list[SeedParagraph], max_jaccard: float = 0.3, max_containment: float = 0.5
) -> list[SeedParagraph]:
    """Keep a candidate only if it is far from every candidate kept before it.

    Far: 5-gram Jaccard below ``max_jaccard`` and less than ``max_containment`` of the smaller
    shingle set inside the other (so a fragment of a kept paragraph is dropped too). The seeds
    repeat blocks and carry the same speech in both scripts; without this, two sources of the
    truth would be near-duplicates and a correct detector would be scored wrong.
    """
    kept: list[SeedParagraph] = []
    kept_sets: list[set[str]] = []
    index: dict[str, list[int]] = {}
    for cand in candidates:
        key = similarity_key(cand.text)
        if len(key) < SHINGLE_SIZE * 2:
            continue
        sh = shingles(key)
        overlap = Counter(chain.from_iterable(index[s] for s in sh if s in index))
        if any(
            inter / (len(sh) + len(kept_sets[i]) - inter) >= max_jaccard
            or inter / min(len(sh), len(kept_sets[i])) >= max_containment
            for i, inter in overlap.items()
        ):
            continue
        for s in sh:
            index.setdefault(s, []).append(len(kept))
        kept.append(cand)
        kept_sets.append(sh)
    return kept


def _clauses(texts) -> list[str]:
    """Distinct clauses of the texts, simplified and without pinyin junk, in first-seen order.

    A clause longer than a third of its paragraph is left out: a new paragraph holding it would
    contain most of a short seed paragraph, and a detector of partial copies would rightly link
    two sources the truth keeps apart.
    """
    seen: dict[str, None] = {}
    for text in texts:
        text = _T2S.convert(PINYIN_JUNK_RE.sub("", text))
        longest = len(text) // 3
        for clause in CLAUSE_SPLIT_RE.split(text):
            if MIN_CLAUSE <= len(clause) <= min(MAX_CLAUSE, longest):
                seen.setdefault(clause, None)
    return list(seen)


# --------------------------------------------------------------------------------------------
# Mutations: what real dumps do to reused text. Each is (text, rng) -> text, pure but for rng;
# it returns the text unchanged when it does not apply.

# Tone pinyin of the characters whose broken conversion litters seed 003 ("關(guān)"), most
# frequent first; every one of them changes under s2t.
PINYIN = {
    "务": "wù", "发": "fā", "区": "qū", "关": "guān", "设": "shè", "业": "yè", "现": "xiàn",
    "经": "jīng", "统": "tǒng", "规": "guī", "产": "chǎn", "领": "lǐng", "应": "yīng",
    "调": "diào", "质": "zhì", "内": "nèi", "优": "yōu", "结": "jié", "环": "huán",
    "创": "chuàng", "灾": "zāi", "乡": "xiāng", "态": "tài", "农": "nóng", "续": "xù",
    "协": "xié", "监": "jiān", "战": "zhàn", "础": "chǔ", "镇": "zhèn", "构": "gòu",
    "复": "fù", "节": "jié", "稳": "wěn", "数": "shù", "联": "lián", "据": "jù",
    "转": "zhuǎn", "卫": "wèi", "医": "yī", "执": "zhí", "预": "yù", "术": "shù",
    "网": "wǎng", "养": "yǎng", "权": "quán", "络": "luò", "贸": "mào", "会": "huì",
    "国": "guó", "时": "shí", "实": "shí", "为": "wéi", "这": "zhè", "县": "xiàn",
    "级": "jí", "进": "jìn", "动": "dòng", "员": "yuán",
}  # fmt: skip
_PINYIN_CHARS_RE = re.compile("[" + "".join(PINYIN) + "]")
PINYIN_RATE = 0.2

PLACEHOLDERS = ("xx", "XX", "**", "*", "×××", "某")
# Names that appear in the seeds and that anonymisers replace.
NAMES = ("清泉", "桂梅", "庆林", "慶林", "开封", "開封", "郑州", "鄭州")
_PLACEHOLDER_OR_NAME_RE = re.compile(PLACEHOLDER_RE.pattern + "|" + "|".join(NAMES))

_CN_NUMBERS = "零一二三四五六七八九十"
_CN_NUM = "(?:[二三四五六七八九]?十[一二三四五六七八九]?|[一二三四五六七八九])"  # 1..99, well formed only
# A list marker at the start ("一、", "（三）", "二是") or an ordinal "第五" that counts items.
RENUMBER_RE = re.compile(
    rf"^([（(]?)({_CN_NUM})(?=[、）)是])|(第)({_CN_NUM})(?=[、，,。：:是个条项次篇部章节])"
)

FULL_PUNCT, HALF_PUNCT = "，：；！？（）", ",:;!?()"
_TO_HALF = str.maketrans(FULL_PUNCT, HALF_PUNCT)
_TO_FULL = str.maketrans(HALF_PUNCT, FULL_PUNCT)
_SENTENCE_END = "。！？.!?"
EDIT_CHARS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下"
    "过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都"
)


def cn_to_int(s: str) -> int:
    """Chinese numeral up to 99 -> int.

    >>> [cn_to_int(s) for s in ("五", "十", "十二", "二十", "三十四")]
    [5, 10, 12, 20, 34]
    """
    if "十" not in s:
        return _CN_NUMBERS.index(s)
    tens, _, ones = s.partition("十")
    return (_CN_NUMBERS.index(tens) if tens else 1) * 10 + (_CN_NUMBERS.index(ones) if ones else 0)


def int_to_cn(n: int) -> str:
    """int 1..99 -> Chinese numeral.

    >>> [int_to_cn(n) for n in (5, 10, 12, 20, 34)]
    ['五', '十', '十二', '二十', '三十四']
    """
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _CN_NUMBERS[ones]
    return ("" if tens == 1 else _CN_NUMBERS[tens]) + "十" + (_CN_NUMBERS[ones] if ones else "")


@cache
def _simplified_re() -> re.Pattern:
    """Characters of the CJK Unified Ideographs block that s2t changes: a whole-paragraph
    conversion only to learn whether "script" applies would double the cost of the mutation.
    """
    chars = [chr(c) for c in range(0x4E00, 0xA000)]
    converted = _S2T.convert("\n".join(chars)).split("\n")
    changed = "".join(c for c, t in zip(chars, converted) if c != t)
    return re.compile(f"[{changed}]")


def to_traditional(text: str, rng) -> str:
    """Traditional script (OpenCC s2t), then tone pinyin after ~20% of the characters that
    changed script and that ``PINYIN`` knows, the way a broken converter leaves it: 關(guān).
    """
    converted = _S2T.convert(text)
    if len(converted) != len(text):  # a phrase conversion changed the length: no alignment
        return converted
    out: list[str] = []
    last = 0
    for m in _PINYIN_CHARS_RE.finditer(text):
        i = m.start()
        if converted[i] != text[i] and rng.random() < PINYIN_RATE:
            out.append(converted[last : i + 1])
            out.append(f"({PINYIN[text[i]]})")
            last = i + 1
    out.append(converted[last:])
    return "".join(out)


def swap_placeholders(text: str, rng) -> str:
    """Replace every placeholder or known name by one placeholder (another one where they match).

    >>> import random
    >>> swap_placeholders("清泉同志在xx市", random.Random(0)) != "清泉同志在xx市"
    True
    """
    new = rng.choice(PLACEHOLDERS)
    other = PLACEHOLDERS[(PLACEHOLDERS.index(new) + 1) % len(PLACEHOLDERS)]
    return _PLACEHOLDER_OR_NAME_RE.sub(lambda m: other if m.group() == new else new, text)


def renumber(text: str, rng) -> str:
    """Shift every list number by one, up or down ("一、" -> "二、", "第五" -> "第六").

    >>> import random
    >>> renumber("二、第五条", random.Random(1)) in ("一、第四条", "三、第六条")
    True
    >>> renumber("第二三条", random.Random(1))  # not a numeral: left alone
    '第二三条'
    """
    matches = list(RENUMBER_RE.finditer(text))
    if not matches:
        return text
    numbers = [cn_to_int(m.group(2) or m.group(4)) for m in matches]
    delta = rng.choice((1, -1))
    if min(numbers) + delta < 1 or max(numbers) + delta > 99:
        delta = -delta

    def shift(m: re.Match) -> str:
        if m.group(2):
            return m.group(1) + int_to_cn(cn_to_int(m.group(2)) + delta)
        return m.group(3) + int_to_cn(cn_to_int(m.group(4)) + delta)

    return RENUMBER_RE.sub(shift, text)


def flip_punctuation_width(text: str, rng) -> str:
    """Full-width punctuation to half-width, or the other way when half-width dominates.

    >>> flip_punctuation_width("一，二：三", None)
    '一,二:三'
    >>> flip_punctuation_width("一,二(三)", None)
    '一，二（三）'
    """
    full = sum(text.count(c) for c in FULL_PUNCT)
    half = sum(text.count(c) for c in HALF_PUNCT)
    return text.translate(_TO_HALF if full >= half else _TO_FULL)


def edit_chars(text: str, rng) -> str:
    """Substitute, insert or delete 1-3% of the characters (at least one edit)."""
    chars = list(text)
    n_edits = max(1, round(len(chars) * rng.uniform(0.01, 0.03)))
    for _ in range(n_edits):
        op = rng.randrange(3)
        pos = rng.randrange(len(chars))
        if op == 0:
            old = chars[pos]
            chars[pos] = rng.choice(EDIT_CHARS)
            if chars[pos] == old:  # make sure it is an edit
                chars[pos] = EDIT_CHARS[(EDIT_CHARS.index(old) + 1) % len(EDIT_CHARS)]
        elif op == 1:
            chars.insert(pos, rng.choice(EDIT_CHARS))
        elif len(chars) > MIN_SEED_CHARS // 2:
            del chars[pos]
    return "".join(chars).strip() or text


def truncate(text: str, rng) -> str:
    """Keep the first 50-90% of the characters: a partial copy."""
    keep = max(1, int(len(text) * rng.uniform(0.5, 0.9)))
    return text[:keep].rstrip() or text


def break_line(text: str, rng) -> list[str]:
    """Break a line in two mid-sentence (between 30% and 70% of it), as seed 003 does; a line
    too short to break, or one whose only break points end a sentence, stays whole.
    """
    n = len(text)
    if n < 24:
        return [text]
    for _ in range(4):
        cut = rng.randint(int(n * 0.3), int(n * 0.7))
        if text[cut - 1] not in _SENTENCE_END:
            head, tail = text[:cut].rstrip(), text[cut:].lstrip()
            if head and tail:
                return [head, tail]
    return [text]


_SENTENCE_RE = re.compile(r"[^。！？!?]+[。！？!?]*")
_CLAUSE_RE = re.compile(r"[^，,；;。！？!?]+[，,；;。！？!?]*")


def _pieces(text: str) -> list[str]:
    """Sentences of the text with their end marks, or its clauses when it is one sentence;
    joined, they give the text back."""
    pieces = _SENTENCE_RE.findall(text)
    if len(pieces) < 2:
        pieces = _CLAUSE_RE.findall(text)
    return pieces if "".join(pieces) == text else [text]


def reorder_clauses(text: str, rng) -> str:
    """Swap two neighbouring sentences (or clauses, in a one-sentence paragraph), as an editor
    who rewrites a pasted section does; each keeps its own end mark.

    >>> reorder_clauses("一是甲。二是乙。", None)
    '二是乙。一是甲。'
    """
    pieces = _pieces(text)
    if len(pieces) < 2:
        return text
    i = rng.randrange(len(pieces) - 1) if rng is not None else 0
    pieces[i], pieces[i + 1] = pieces[i + 1], pieces[i]
    return "".join(pieces)


def insert_sentence(text: str, rng, foreign: str) -> str:
    """Insert a foreign sentence (a reporter's credit, an aside, a line of another text) at a
    sentence or clause boundary of the copy, or at its start or end.

    >>> insert_sentence("一是甲。二是乙。", None, "丙丁。")
    '一是甲。丙丁。二是乙。'
    """
    pieces = _pieces(text)
    at = rng.randint(0, len(pieces)) if rng is not None else 1
    return "".join(pieces[:at]) + foreign + "".join(pieces[at:])


def drop_sentence(text: str, rng) -> str:
    """Leave one sentence out (or a clause, in a one-sentence paragraph), as a site that trims
    a pasted section does; a text of one piece stays whole.

    >>> drop_sentence("一是甲。二是乙。三是丙。", None)
    '二是乙。三是丙。'
    """
    pieces = _pieces(text)
    if len(pieces) < 2:
        return text
    i = rng.randrange(len(pieces)) if rng is not None else 0
    return "".join(pieces[:i] + pieces[i + 1 :]).strip() or text


WRAP_WIDTHS = (16, 40)  # characters a wrapped line holds: a narrow column to a PDF's line


def wrap_lines(text: str, rng) -> list[str]:
    """Hard-wrap the text at a fixed width of 16-40 characters, wherever the width falls (a page
    copied out of a PDF or a narrow column: Chinese text wraps inside words and sentences);
    a text no longer than the width stays one line.

    >>> wrap_lines("一二三四五六七八九十" * 4, None)
    ['一二三四五六七八九十一二三四五六', '七八九十一二三四五六七八九十一二', '三四五六七八九十']
    """
    width = rng.randint(*WRAP_WIDTHS) if rng is not None else WRAP_WIDTHS[0]
    lines = [text[i : i + width].strip() for i in range(0, len(text), width)]
    return [line for line in lines if line] or [text]


def foreign_sentence(pool: "SourcePool", rng) -> str:
    """A sentence of 8-40 characters from new text the dump never emits as a paragraph of its
    own (indexes far past any dump's count), so no source of the truth holds it. New text is
    spliced from pieces of seed clauses, so a short sentence can happen to spell out a stretch
    of a seed: such a one is drawn again."""
    for _ in range(FOREIGN_TRIES):
        text = pool.new_paragraph(FOREIGN_BASE + rng.randrange(1 << 20))
        sentences = [s for s in _SENTENCE_RE.findall(text) if len(s) >= 8] or [text]
        sentence = rng.choice(sentences)
        sentence = sentence if len(sentence) <= 40 else sentence[:39].rstrip("，,") + "。"
        if not pool.holds_all(shingles(similarity_key(sentence))):
            break
    return sentence


FOREIGN_TRIES = 16


FOREIGN_BASE = 1 << 40

# Applied in this order (a split or a wrap is always last: they change the number of lines).
MUTATIONS = (
    "placeholder", "renumber", "reorder", "drop", "truncate", "insert", "script", "punct", "edit", "split", "wrap",
)  # fmt: skip
LINE_MUTATIONS = ("split", "wrap")  # applied last, they change the number of lines
_TEXT_MUTATIONS = {
    "placeholder": swap_placeholders,
    "renumber": renumber,
    "reorder": reorder_clauses,
    "drop": drop_sentence,
    "truncate": truncate,
    "script": to_traditional,
    "punct": flip_punctuation_width,
    "edit": edit_chars,
}
PARTIAL_MUTATIONS = frozenset({"drop", "truncate", "split", "wrap"})
_APPLIES = {
    "placeholder": lambda t: _PLACEHOLDER_OR_NAME_RE.search(t) is not None,
    "renumber": lambda t: RENUMBER_RE.search(t) is not None,
    "reorder": lambda t: len(_pieces(t)) >= 2,
    "drop": lambda t: len(_pieces(t)) >= 3,
    "truncate": lambda t: len(t) >= MIN_SEED_CHARS,
    "insert": lambda t: True,
    "script": lambda t: _simplified_re().search(t) is not None,
    "punct": lambda t: any(c in t for c in FULL_PUNCT + HALF_PUNCT),
    "edit": lambda t: True,
    "split": lambda t: len(t) >= 24,
    "wrap": lambda t: len(t) > 2 * WRAP_WIDTHS[1],
}
# How many mutations a copy gets: 0, 1 or 2.
MUTATION_COUNT_WEIGHTS = (0.25, 0.4, 0.35)


def mutate(
    text: str, rng, n_mutations: int | None = None, foreign: Callable[[], str] | None = None, wrap: bool = False
) -> tuple[list[str], list[str]]:
    """A copy of ``text``: its lines (two if split) and the mutations that changed it.

    Draws 0-2 mutations among those that apply to the text, applies them in ``MUTATIONS``
    order, and records the ones that changed something. ``foreign()`` gives the sentence an
    ``insert`` puts in; without it, ``insert`` is never drawn; ``wrap`` is drawn only when
    asked for (``GenerateParams.wrap``).
    """
    if n_mutations is None:
        r = rng.random()
        n_mutations = 0 if r < MUTATION_COUNT_WEIGHTS[0] else 1 if r < 1 - MUTATION_COUNT_WEIGHTS[2] else 2
    chosen: set[str] = set()
    if n_mutations:
        for name in rng.sample(MUTATIONS, len(MUTATIONS)):
            if _APPLIES[name](text) and (name != "insert" or foreign is not None) and (name != "wrap" or wrap):
                chosen.add(name)
                if len(chosen) == n_mutations:
                    break
    applied: list[str] = []
    for name in MUTATIONS[: -len(LINE_MUTATIONS)]:
        if name in chosen:
            if name == "insert":
                new = insert_sentence(text, rng, foreign())
            else:
                new = _TEXT_MUTATIONS[name](text, rng)
            if new != text:
                text = new
                applied.append(name)
    lines = [text]
    if "split" in chosen:
        lines = break_line(text, rng)
        if len(lines) == 2:
            applied.append("split")
    elif "wrap" in chosen:  # a split and a wrap together: the split (a wrap of a wrap is one)
        lines = wrap_lines(text, rng)
        if len(lines) >= 2:
            applied.append("wrap")
    return lines, applied


# --------------------------------------------------------------------------------------------
# The generator.


@dataclass(frozen=True)
class GenerateParams:
    """What decides the dump (saved in generate.json). Stop at ``n_docs`` documents or once the
    documents reach ``target_bytes`` bytes, whichever comes first; at least one is required.

    reuse             share of paragraph lines that are copies of an earlier original (outside
                      copied runs, whose lines are all copies but for a fresh one put in)
    run_rate          share of documents that paste a copied run (see the module docstring)
    boilerplate_rate  share of documents whose content opens with a boilerplate prefix line
                      (one of ``PREFIXES``, shared by every site)
    sites             number of sites; each page carries its site's furniture (SITE_FURNITURE)
    site_folders      one folder per site (``s03/d000/000123.txt``); False: the flat layout of
                      ``doc_path``, where no path tells the sites apart
    popular_rate      share of copies that pick their original by popularity (an original
                      seen k times is k times as likely: heavy-tailed cluster sizes); the
                      others pick an earlier original uniformly
    wrap              also hard-wrap copies at a fixed width (the ``wrap`` mutation): off by
                      default, since one wrapped copy is 5-20 lines that each count in the
                      scores (bench/README.md has a dump with it)
    """

    n_docs: int | None = None
    target_bytes: int | None = None
    seed: int = 1
    reuse: float = 0.3
    boilerplate_rate: float = 0.2
    popular_rate: float = 0.5
    min_paragraphs: int = 5
    max_paragraphs: int = 40
    run_rate: float = 0.2  # share of documents that paste a run of paragraphs (passages.jsonl)
    sites: int = 8
    site_folders: bool = True
    wrap: bool = False

    def __post_init__(self) -> None:
        if self.n_docs is None and self.target_bytes is None:
            raise GenerateError("say how big the dump is: give a number of documents or a size")
        if self.n_docs is not None and self.n_docs < 1:
            raise GenerateError(f"number of documents must be at least 1, got {self.n_docs}")
        if self.target_bytes is not None and self.target_bytes < 1:
            raise GenerateError(f"size must be at least 1 byte, got {self.target_bytes}")
        for name in ("reuse", "boilerplate_rate", "popular_rate", "run_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise GenerateError(f"{name.replace('_', ' ')} must be between 0 and 1, got {value}")
        if self.sites < 1:
            raise GenerateError(f"number of sites must be at least 1, got {self.sites}")
        if not 1 <= self.min_paragraphs <= self.max_paragraphs:
            raise GenerateError(
                "paragraphs per document must satisfy 1 <= min <= max, "
                f"got {self.min_paragraphs}..{self.max_paragraphs}"
            )


@dataclass
class GenerateStats:
    """Counts of one generated dump (``seconds`` is the only field that varies between runs)."""

    out_dir: str
    docs_dir: str
    truth_path: str
    documents: int = 0
    lines: int = 0
    bytes: int = 0
    originals: int = 0
    seed_originals: int = 0
    new_originals: int = 0
    boilerplate_lines: int = 0
    copies: int = 0
    partial_lines: int = 0
    largest_source: int = 0
    copied_runs: int = 0
    mutations: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds else float("inf")

    def counts(self) -> dict:
        d = asdict(self)
        for key in ("out_dir", "docs_dir", "truth_path", "seconds"):
            d.pop(key)
        return d


def doc_path(i: int) -> str:
    """Relative path of document i, 1000 documents per folder.

    >>> doc_path(123), doc_path(4567)
    ('d000/000123.txt', 'd004/004567.txt')
    """
    return f"d{i // 1000:03d}/{i:06d}.txt"


def _truth_line(path: str, line: int, source: str, copy: bool, partial: bool, mutations: list[str]) -> str:
    # Hand-formatted JSON (paths, sources and mutation names are plain ASCII): json.dumps per
    # record would be a third of the run time.
    muts = ", ".join(f'"{m}"' for m in mutations)
    return (
        f'{{"path": "{path}", "line": {line}, "source": "{source}", '
        f'"copy": {"true" if copy else "false"}, "partial": {"true" if partial else "false"}, '
        f'"mutations": [{muts}]}}\n'
    )


def _prepare_out_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise GenerateError(f"{out} is a file - give --out a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise GenerateError(
                f"{out} is not empty - choose a new folder, or --force to replace a dump made there"
            )
        if not (out / "generate.json").is_file():
            raise GenerateError(
                f"{out} holds no generate.json, so it is not a dump; refusing to delete it - "
                "choose another folder"
            )
        shutil.rmtree(out / "docs", ignore_errors=True)
        for name in ("truth.jsonl", "passages.jsonl", "generate.json"):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


class _Lineage:
    """The originals emitted so far, how often each appeared, and which one a copy takes.

    Original i has code ``codes[i]``: below the number of seeds a seed paragraph, else
    ``new:<code - seeds>``. Three integer arrays, so memory grows by a few bytes a line.
    """

    def __init__(self, pool: SourcePool, rng: random.Random, seed_rate: float) -> None:
        self.pool = pool
        self.rng = rng
        self.seed_rate = seed_rate
        self.n_seeds = len(pool.seeds)
        self.seed_order = list(range(self.n_seeds))
        rng.shuffle(self.seed_order)
        self.codes = array("I")
        self.sizes = array("I")
        self.appearances = array("I")  # the original of every paragraph so far
        self.seeds_used = 0
        self.new_made = 0

    def fresh(self) -> int:
        """A new original: the next seed paragraph (with probability ``seed_rate``) or new text."""
        if self.seeds_used < self.n_seeds and self.rng.random() < self.seed_rate:
            self.codes.append(self.seed_order[self.seeds_used])
            self.seeds_used += 1
        else:
            self.codes.append(self.n_seeds + self.new_made)
            self.new_made += 1
        self.sizes.append(0)
        return len(self.codes) - 1

    def pick(self, popular_rate: float) -> int:
        """An earlier original to copy: by popularity (one seen k times is k times as likely,
        which gives heavy-tailed clusters) or uniformly."""
        if self.rng.random() < popular_rate:
            return self.appearances[self.rng.randrange(len(self.appearances))]
        return self.rng.randrange(len(self.codes))

    def appeared(self, i: int) -> None:
        self.appearances.append(i)
        self.sizes[i] += 1

    def text(self, i: int) -> tuple[str, str]:
        """(source id, text) of original i."""
        code = self.codes[i]
        if code < self.n_seeds:
            p = self.pool.seeds[code]
            return p.source, p.text
        return f"new:{code - self.n_seeds}", self.pool.new_paragraph(code - self.n_seeds)


def _make_document(
    rel: str, site: int, params: GenerateParams, rng: random.Random, lineage: _Lineage,
    boilerplate_seen: set[int], stats: GenerateStats, mutation_counts: Counter,
    pages: "_Pages | None" = None, runs: list[str] | None = None,
) -> tuple[list[str], list[str]]:  # fmt: skip
    """One page of ``site``: its lines and their truth records (JSON lines); a copied run pasted
    into it goes to ``runs`` (passages.jsonl records), and its content paragraphs to ``pages``."""
    lines: list[str] = []
    records: list[str] = []
    pages = pages if pages is not None else _Pages()
    pages.begin(rel)

    def emit(text: str, source: str, copy: bool, partial: bool, muts: list[str]) -> None:
        lines.append(text)
        records.append(_truth_line(rel, len(lines), source, copy, partial, muts))

    def boilerplate(k: int) -> None:
        emit(BOILERPLATES[k], f"boilerplate:{k}", k in boilerplate_seen, False, [])
        boilerplate_seen.add(k)
        stats.boilerplate_lines += 1

    n_paragraphs = rng.randint(params.min_paragraphs, params.max_paragraphs)
    furniture = _page_furniture(site, n_paragraphs, rng)
    for k in furniture.head:
        boilerplate(k)
    if rng.random() < params.boilerplate_rate:
        boilerplate(rng.randrange(len(PREFIXES)))
    run_at = rng.randrange(n_paragraphs) if params.run_rate and pages.paragraphs and rng.random() < params.run_rate else -1
    for j in range(n_paragraphs):
        if j in furniture.between:
            boilerplate(furniture.between[j])
        if j == run_at:
            _paste_run(rel, lines, rng, lineage, pages, emit, stats, mutation_counts, runs, wrap=params.wrap)
        first = len(lines) + 1
        if lineage.codes and rng.random() < params.reuse:
            i = lineage.pick(params.popular_rate)
            _emit_copy(i, rng, lineage, emit, stats, mutation_counts, wrap=params.wrap)
        else:
            i = lineage.fresh()
            source, text = lineage.text(i)
            emit(text, source, False, False, [])
        lineage.appeared(i)
        pages.add(i, first, len(lines))
    for k in furniture.tail:
        boilerplate(k)
    return lines, records


def _emit_copy(i: int, rng: random.Random, lineage: _Lineage, emit: Callable, stats: GenerateStats, mutation_counts: Counter,
               wrap: bool = False) -> None:
    """Emit a copy of original i, mutated (one line, two when broken, more when ``wrap`` wraps
    it), and count it."""
    source, text = lineage.text(i)
    copy_lines, muts = mutate(text, rng, foreign=lambda: foreign_sentence(lineage.pool, rng), wrap=wrap)
    partial = any(m in PARTIAL_MUTATIONS for m in muts)
    for line in copy_lines:
        emit(line, source, True, partial, muts)
    stats.copies += 1
    stats.partial_lines += len(copy_lines) if partial else 0
    mutation_counts.update(muts)


RUN_MIN, RUN_MAX = 3, 8  # paragraphs of a copied run (of its source side)
RUN_GAP_RATE = 0.1  # chance that a paragraph of a run is left out, and that a fresh one follows one


class _Pages:
    """Every paragraph written so far, in order, for pasting a run of them: its original and its
    first and last line, and where each document's paragraphs start. Integer arrays: a few
    bytes a paragraph, as ``_Lineage``."""

    def __init__(self) -> None:
        self.original = array("I")
        self.first = array("I")
        self.last = array("I")
        self.starts = array("I")  # index of each document's first paragraph
        self.paths: list[str] = []  # each document's path in the dump

    @property
    def paragraphs(self) -> int:
        return len(self.original)

    def begin(self, rel: str) -> None:
        self.starts.append(len(self.original))
        self.paths.append(rel)

    def add(self, i: int, first: int, last: int) -> None:
        self.original.append(i)
        self.first.append(first)
        self.last.append(last)

    def pick_run(self, rng: random.Random) -> tuple[int, int, int]:
        """(document index, first paragraph, last paragraph) of a run of RUN_MIN to RUN_MAX
        consecutive paragraphs of one document written so far (the current one included), or
        a document index of -1 when none has enough paragraphs."""
        doc = rng.randrange(len(self.starts))
        for d in (doc, *range(len(self.starts) - 1, -1, -1)):  # the drawn one, else the latest that can
            start = self.starts[d]
            end = self.starts[d + 1] if d + 1 < len(self.starts) else len(self.original)
            if end - start >= RUN_MIN:
                n = rng.randint(RUN_MIN, min(RUN_MAX, end - start))
                first = rng.randint(start, end - n)
                return d, first, first + n - 1
        return -1, 0, 0


def _paste_run(
    rel: str, lines: list[str], rng: random.Random, lineage: _Lineage, pages: _Pages, emit: Callable,
    stats: GenerateStats, mutation_counts: Counter, runs: list[str] | None, wrap: bool = False,
) -> None:  # fmt: skip
    """Paste a copied run into the document being written (see the module docstring): every
    paragraph of the run a mutated copy, one left out or a fresh one put in now and then; its
    record goes to ``runs``."""
    doc, first, last = pages.pick_run(rng)
    if doc < 0:
        return
    copy_first, copied = len(lines) + 1, 0
    for p in range(first, last + 1):
        if first < p < last and rng.random() < RUN_GAP_RATE:
            continue  # left out
        line = len(lines) + 1
        i = pages.original[p]
        _emit_copy(i, rng, lineage, emit, stats, mutation_counts, wrap=wrap)
        lineage.appeared(i)
        pages.add(i, line, len(lines))
        copied += 1
        if p < last and rng.random() < RUN_GAP_RATE:  # a fresh paragraph put in
            line, i = len(lines) + 1, lineage.fresh()
            source, text = lineage.text(i)
            emit(text, source, False, False, [])
            lineage.appeared(i)
            pages.add(i, line, len(lines))
    stats.copied_runs += 1
    if runs is not None:
        runs.append(
            f'{{"source_path": "{pages.paths[doc]}", "source_lines": [{pages.first[first]}, {pages.last[last]}], '
            f'"copy_path": "{rel}", "copy_lines": [{copy_first}, {len(lines)}], "paragraphs": {copied}}}\n'
        )


@dataclass(frozen=True)
class PageFurniture:
    """The furniture lines (boilerplate indexes) of one page: at its head, before content
    paragraph j (between two sections), at its tail."""

    head: list[int]
    between: dict[int, int]
    tail: list[int]


def _page_furniture(site: int, n_paragraphs: int, rng: random.Random) -> PageFurniture:
    """Which of its site's lines a page of ``n_paragraphs`` content paragraphs carries, and
    where: each role with its rate; the content cut into 1..MAX_SECTIONS sections, a separator
    in each gap with the separator's rate."""
    carried = lambda role: rng.random() < FURNITURE_RATES[role]  # noqa: E731
    head = [furniture_index(site, r) for r in HEAD_ROLES if carried(r)]
    n_sections = min(n_paragraphs, rng.randint(1, MAX_SECTIONS))
    cuts = sorted(rng.sample(range(1, n_paragraphs), n_sections - 1))
    between = {j: furniture_index(site, "separator") for j in cuts if carried("separator")}
    tail = [furniture_index(site, r) for r in TAIL_ROLES if carried(r)]
    return PageFurniture(head, between, tail)


def generate(
    out_dir: str | Path,
    *,
    n_docs: int | None = None,
    target_bytes: int | None = None,
    seed: int = 1,
    seeds_dir: str | Path = "data/seeds",
    reuse: float = 0.3,
    boilerplate_rate: float = 0.2,
    popular_rate: float = 0.5,
    run_rate: float = 0.2,
    sites: int = 8,
    site_folders: bool = True,
    wrap: bool = False,
    force: bool = False,
) -> GenerateStats:
    """Write a synthetic dump with its truth to ``out_dir`` (see the module docstring).

    Documents are written one at a time; memory holds the seed pool and a few integer arrays
    (see ``_Lineage``), never the dump.
    """
    started = time.perf_counter()
    params = GenerateParams(
        n_docs=n_docs, target_bytes=target_bytes, seed=seed, reuse=reuse,
        boilerplate_rate=boilerplate_rate, popular_rate=popular_rate, sites=sites, site_folders=site_folders, run_rate=run_rate, wrap=wrap,
    )  # fmt: skip
    pool = SourcePool(seeds_dir, seed)
    out = Path(out_dir)
    _prepare_out_dir(out, force)
    docs_dir = out / "docs"
    docs_dir.mkdir()
    truth_path = out / "truth.jsonl"
    stats = GenerateStats(out_dir=str(out), docs_dir=str(docs_dir), truth_path=str(truth_path))

    # Spread the seed paragraphs over the whole dump: a fresh original is a seed with the
    # probability that makes the seeds last until about the expected end.
    estimates = []
    if n_docs is not None:
        estimates.append(n_docs * (params.min_paragraphs + params.max_paragraphs) / 2)
    if target_bytes is not None:
        estimates.append(target_bytes / pool.mean_bytes)
    expected_fresh = max(1.0, min(estimates) * (1 - reuse))
    rng = random.Random(seed)
    lineage = _Lineage(pool, rng, seed_rate=min(1.0, len(pool.seeds) / expected_fresh))
    boilerplate_seen: set[int] = set()
    mutation_counts: Counter[str] = Counter()
    pages = _Pages()

    bounds = site_bounds(params.sites)
    site = in_site = 0
    folder = None

    def site_is_full() -> bool:  # the sites come one after another, each to its share of the dump
        return (n_docs is not None and stats.documents >= round(n_docs * bounds[site])) or (
            target_bytes is not None and stats.bytes >= target_bytes * bounds[site]
        )

    with truth_path.open("w", encoding="utf-8", newline="\n") as truth, (out / "passages.jsonl").open("w", encoding="utf-8", newline="\n") as passages:
        while (n_docs is None or stats.documents < n_docs) and (
            target_bytes is None or stats.bytes < target_bytes
        ):
            while site < params.sites - 1 and site_is_full():
                site, in_site = site + 1, 0
            rel = site_doc_path(site, stats.documents, in_site) if site_folders else doc_path(stats.documents)
            runs: list[str] = []
            lines, records = _make_document(
                rel, site, params, rng, lineage, boilerplate_seen, stats, mutation_counts, pages, runs
            )
            passages.write("".join(runs))
            data = ("\n".join(lines) + "\n").encode("utf-8")
            target = docs_dir / rel
            if target.parent != folder:
                folder = target.parent
                folder.mkdir(parents=True, exist_ok=True)
            in_site += 1
            target.write_bytes(data)
            truth.write("".join(records))
            stats.documents += 1
            stats.lines += len(lines)
            stats.bytes += len(data)

    stats.seed_originals = lineage.seeds_used
    stats.new_originals = lineage.new_made
    stats.originals = len(lineage.codes)
    stats.largest_source = max(lineage.sizes, default=0)
    stats.mutations = {name: mutation_counts[name] for name in MUTATIONS}
    _write_meta(out / "generate.json", params, pool, seeds_dir, stats)
    stats.seconds = time.perf_counter() - started
    return stats


def _write_meta(
    path: Path, params: GenerateParams, pool: SourcePool, seeds_dir, stats: GenerateStats
) -> None:
    """generate.json: what made the dump and what is in it (no timings: it is reproducible)."""
    meta = {
        "generator": "bench.generate",
        "format_version": FORMAT_VERSION,
        "seed": params.seed,
        "params": asdict(params),
        "opencc": getattr(opencc, "__version__", "unknown"),
        "seed_pool": {
            "seeds_dir": str(seeds_dir),
            "files": [p.name for p in pool.files],
            "sha256": pool.seeds_sha256,
            "candidate_paragraphs": pool.n_candidates,
            "distinct_paragraphs": len(pool.seeds),
            "clauses": len(pool.clauses),
        },
        "layout": {"docs": "docs", "truth": "truth.jsonl", "passages": "passages.jsonl", "paths_relative_to": "docs"},
        "counts": stats.counts(),
    }
    path.write_text(json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------
# CLI

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "k": 10**3, "m": 10**6, "g": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}  # fmt: skip
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int:
    """Bytes in a size like "100MB" (decimal units; KiB/MiB/GiB binary).

    >>> parse_size("100MB"), parse_size("1.5k"), parse_size("2MiB"), parse_size("300")
    (100000000, 1500, 2097152, 300)
    """
    m = _SIZE_RE.match(text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (try 100MB, 2GB or a number of bytes)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def _size_arg(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate",
        description="Write a synthetic scraped dump (DIR/docs) with the source of every line "
        "(DIR/truth.jsonl).",
    )
    add = parser.add_argument
    add("--out", required=True, metavar="DIR", help="folder to create (must be new or empty)")
    add("--docs", type=int, metavar="N", help="number of documents")
    add("--size", type=_size_arg, metavar="SIZE", help="stop once the documents reach this size (100MB, 2GB)")
    add("--seed", type=int, default=1, help="random seed (default 1)")
    add("--seeds-dir", default="data/seeds", metavar="DIR", help="seed .txt files (default data/seeds)")
    add("--reuse", type=float, default=0.3, metavar="RATE",
        help="share of lines that copy an earlier original (default 0.3)")
    add("--boilerplate", type=float, default=0.2, metavar="RATE",
        help="share of documents whose content opens with a prefix line shared by every site (default 0.2)")
    add("--popular", type=float, default=0.5, metavar="RATE",
        help="share of copies taking a popular original (default 0.5)")
    add("--runs", type=float, default=0.2, metavar="RATE",
        help="share of documents pasting a run of paragraphs of an earlier one (default 0.2)")
    add("--sites", type=int, default=8, metavar="N", help="number of sites, each with its page furniture (default 8)")
    add("--flat", action="store_true", help="no folder per site: d000/000123.txt (the sites not in the paths)")
    add("--wrap", action="store_true", help="also hard-wrap copies at a fixed width of 16-40 characters")
    add("--force", action="store_true", help="replace a dump previously generated in DIR")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.docs is None and args.size is None:
        parser.error("give --docs N, --size SIZE, or both (generation stops at the first reached)")
    try:
        stats = generate(
            args.out, n_docs=args.docs, target_bytes=args.size, seed=args.seed,
            seeds_dir=args.seeds_dir, reuse=args.reuse, boilerplate_rate=args.boilerplate,
            popular_rate=args.popular, sites=args.sites, site_folders=not args.flat, run_rate=args.runs, wrap=args.wrap, force=args.force,
        )  # fmt: skip
    except GenerateError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    print(
        f"wrote {stats.documents:,} documents, {stats.lines:,} lines, {stats.bytes / 1e6:.1f} MB "
        f"in {stats.seconds:.1f} s ({stats.mb_per_s:.1f} MB/s): {stats.originals:,} originals, "
        f"{stats.copies:,} copies, {stats.copied_runs:,} copied runs, largest source {stats.largest_source:,} lines"
    )
    print(f"documents: {stats.docs_dir}  truth: {stats.truth_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
