"""The boilerplate flag: page furniture (short, at the same place of the page, on the pages of
a site, repeated between the sections of a page) apart from real reuse, however widespread.

Corpora are written here from random ideographs (``conftest.noise``), so no two paragraphs are
alike but the ones a test plants; each test says which cluster must (not) be furniture.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from helpers import derandomized, noise, scanned_seeds, write_corpus
from dedup.match.boilerplate import EDGE, MAX_CHARS, MIN_SITE_DOCS, Members, find_boilerplate, site_keys
from dedup.config import ScanConfig
from dedup.pipeline import scan

CONFIG = ScanConfig(workers=1)


def flags(db: Path, text: str) -> set[bool]:
    """The boilerplate flags of the clusters holding a paragraph whose text is ``text``."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT c.boilerplate FROM paragraphs p JOIN clusters c ON c.id = p.cluster_id WHERE p.text = ?", [text]
        ).fetchall()
        unclustered = conn.execute("SELECT count(*) FROM paragraphs WHERE text = ? AND cluster_id IS NULL", [text]).fetchone()[0]
    finally:
        conn.close()
    assert rows and not unclustered, f"{text[:20]!r} is not in one cluster"
    return {bool(f) for (f,) in rows}


def pages(rng: random.Random, n: int, length: int = 12) -> list[list[str]]:
    """``n`` pages of ``length`` paragraphs of unrelated random text."""
    return [[noise(rng, 40, 120) for _ in range(length)] for _ in range(n)]


def scanned(tmp_path: Path, files: dict[str, list[str]]) -> Path:
    corpus = write_corpus(tmp_path / "c", {path: "\n".join(lines) + "\n" for path, lines in files.items()})
    db = tmp_path / "s.db"
    scan(corpus, CONFIG, db)
    return db


def test_seeds_keep_their_furniture_flagged(tmp_path, seeds):
    """"同志们:" (in every seed) and the "下面是小编为大家整理的…" intro 003 repeats before each of
    its speeches stay boilerplate; the long sections pasted from speech to speech do not."""
    _, db = scanned_seeds(tmp_path, sorted(seeds.glob("*.txt")))
    assert flags(db, "同志们:") == {True}
    assert flags(db, "下面是小編為大家整理的,供大家參考。") == {True}
    conn = sqlite3.connect(db)
    long_flagged = conn.execute(
        "SELECT count(*) FROM clusters c JOIN paragraphs p ON p.id = c.canonical_id WHERE c.boilerplate AND length(p.text) > ?",
        [MAX_CHARS],
    ).fetchone()[0]
    reused = conn.execute("SELECT count(*) FROM clusters WHERE NOT boilerplate AND n_documents >= 2").fetchone()[0]
    conn.close()
    assert long_flagged == 0 and reused >= 5  # the paragraphs 003 pastes from 001, among others


def test_a_long_paragraph_in_many_pages_of_many_sites_is_not_furniture(tmp_path):
    rng = random.Random(1)
    long = noise(rng, 600, 700)
    files = {}
    for i, page in enumerate(pages(rng, 12)):
        page.insert(i % len(page), long)  # anywhere on the page, the head included
        files[f"site{i % 3}/{i:02d}.txt"] = page
    assert flags(scanned(tmp_path, files), long) == {False}


def test_a_short_content_paragraph_copied_mid_page_into_unrelated_pages_is_not_furniture(tmp_path):
    """The rule before: a paragraph in three pages that share nothing else was furniture."""
    rng = random.Random(2)
    quote = noise(rng, 60, 80)
    files = {f"{i:02d}.txt": page for i, page in enumerate(pages(rng, 20))}
    for i in (3, 9, 15):
        files[f"{i:02d}.txt"].insert(5 + i % 3, quote)
    assert flags(scanned(tmp_path, files), quote) == {False}


def test_a_short_line_at_the_head_of_every_page_of_a_site_is_furniture(tmp_path):
    """Even when the pages are related (each shares a paragraph with the next): the rule before
    called a line furniture only in pages otherwise unrelated."""
    rng = random.Random(3)
    nav = "首页 > 某某范文网 > 讲话稿"
    site = pages(rng, 4)
    for a, b in zip(site, site[1:]):
        b[6] = a[5]
    files = {f"site/{i}.txt": [nav, *page] for i, page in enumerate(site)}
    files.update({f"other/{i}.txt": page for i, page in enumerate(pages(rng, 8))})
    assert flags(scanned(tmp_path, files), nav) == {True}


def test_a_line_mid_page_on_most_pages_of_a_site_is_furniture_and_not_elsewhere(tmp_path):
    """Between-section lines: furniture by recurrence on the pages of their site (folder), the
    same line in a few pages of a big flat corpus is not."""
    rng = random.Random(4)
    separator = "—— 精选内容，未完待续 ——"
    files = {}
    for i, page in enumerate(pages(rng, 2 * MIN_SITE_DOCS)):
        if i % 4 != 3:  # three pages in four
            page.insert(4 + i % 5, separator)
        files[f"www.site.cn/{i:02d}.txt"] = page
    files.update({f"www.other.cn/{i:02d}.txt": page for i, page in enumerate(pages(rng, 20))})
    assert flags(scanned(tmp_path / "site", files), separator) == {True}
    flat = {f"{i:02d}.txt": page for i, page in enumerate(pages(rng, 30))}
    for i in (2, 11, 20):
        flat[f"{i:02d}.txt"].insert(4 + i % 5, separator)
    assert flags(scanned(tmp_path / "flat", flat), separator) == {False}


def test_a_flat_corpus_still_flags_its_tail_lines_and_its_repeated_intros(tmp_path):
    """No folder tells the sites apart: position and repetition inside a page still do."""
    rng = random.Random(5)
    footer = "版权所有 未经授权禁止复制"
    intro = "下面是为大家整理的范文，供大家参考。"
    files = {}
    for i, page in enumerate(pages(rng, 30)):
        if i % 10 == 0:
            page.append(footer)
        if i == 7:  # one page of three speeches, each opening with the intro
            for at in (9, 5, 1):
                page.insert(at, intro)
        files[f"{i:02d}.txt"] = page
    db = scanned(tmp_path, files)
    assert flags(db, footer) == {True}
    assert flags(db, intro) == {True}


def test_site_keys_of_folders_and_urls():
    assert site_keys("a.txt") == ("",)
    assert site_keys("www.site.cn/2024/a.txt") == ("", "www.site.cn", "www.site.cn/2024")
    assert site_keys("http://Example.org") == ("", "example.org")
    assert site_keys("https://example.org/news/a.html")[1:] == ("example.org", "example.org/news")


@st.composite
def clusters(draw):
    """Members of a few clusters over a few documents, with sites of a few sizes."""
    n_docs = draw(st.integers(1, 12))
    sites = {d: site_keys(f"s{draw(st.integers(0, 2))}/{d}.txt") for d in range(n_docs)}
    lengths = {d: draw(st.integers(1, 4 * EDGE)) for d in range(n_docs)}
    rows = []
    for cid in range(1, draw(st.integers(1, 6)) + 1):
        for _ in range(draw(st.integers(1, 8))):
            d = draw(st.integers(0, n_docs - 1))
            rows.append((cid, d, draw(st.integers(0, lengths[d] - 1)), draw(st.sampled_from([4, 40, 400])), lengths[d], 50 * lengths[d]))
    sizes: dict[str, int] = {}
    for keys in sites.values():
        for k in keys:
            sizes[k] = sizes.get(k, 0) + 1
    return rows, sites, sizes, draw(st.integers(1, 4))


def as_members(rows) -> Members:
    return Members(*(np.array(col, dtype=np.int64) for col in zip(*rows)))


@derandomized(200)
@given(clusters())
def test_any_split_of_whole_clusters_decides_the_same(case):
    """What lets Spark decide per partition and an update decide from the stored rows: each
    cluster's flag depends on its own members and the site sizes only."""
    rows, sites, sizes, parts = case
    whole = find_boilerplate(as_members(rows), sites, sizes)
    split: set[int] = set()
    for part in range(parts):
        chosen = [r for r in rows if r[0] % parts == part]
        if chosen:
            split |= find_boilerplate(as_members(chosen), sites, sizes)
    assert split == whole
    assert find_boilerplate(as_members(rows[::-1]), sites, sizes) == whole


def test_a_long_paragraph_holding_a_short_heading_keeps_its_cluster_out_a_glued_footer_does_not():
    """Headings that are partial copies of a long paragraph (a licence's title inside its
    preamble) join its cluster: that cluster is content. One page whose footer was glued to its
    last paragraph puts a long member into the footer's cluster: still furniture."""
    sites = {d: ("",) for d in range(40)}
    sizes = {"": 40}
    heading = [(1, d, 0, 26, 20, 3000) for d in range(6)] + [(1, d, 5, 560, 20, 3000) for d in range(2)]
    footer = [(2, d, 19, 30, 20, 3000) for d in range(30)] + [(2, 30, 19, 600, 20, 3000)]
    assert find_boilerplate(as_members(heading + footer), sites, sizes) == {2}


def test_records_named_by_url_are_placed_on_their_host(tmp_path):
    """JSON Lines records have no folder: an id that is a URL gives the host as the site."""
    import json

    rng = random.Random(6)
    slogan = "本站文章均经编辑审核，欢迎转发分享"
    records = []
    for i, page in enumerate(pages(rng, 24)):
        host = "news.example.cn" if i % 2 else "blog.example.org"
        if host == "news.example.cn" and i % 6 != 1:  # most pages of one host, mid-page
            page.insert(6, slogan)
        records.append({"id": f"https://{host}/2024/{i:02d}.html", "text": "\n".join(page)})
    corpus = write_corpus(tmp_path / "c", {"crawl.jsonl": "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)})
    scan(corpus, CONFIG, tmp_path / "s.db")
    assert flags(tmp_path / "s.db", slogan) == {True}
    as_files = {f"{i:02d}.txt": r["text"].split("\n") for i, r in enumerate(records)}  # the same pages, no site
    assert flags(scanned(tmp_path / "flat", as_files), slogan) == {False}
