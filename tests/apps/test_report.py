"""``dedup show`` (cluster diffs, ``--doc``) and ``dedup report``: content against the database,
escaping, caps, bad input, and the seeds' report rendered in headless Chromium."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from dedup.apps.cli import cli
from dedup.apps.report import Limits, gather, render
from dedup.store.writer import open_existing

from helpers import assert_error, query, read_clusters, scanned_seeds, unmark, write_corpus


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def seeds_db(tmp_path_factory, seeds) -> Path:
    _, db = scanned_seeds(tmp_path_factory.mktemp("seeds"), sorted(seeds.glob("*.txt")))
    return db


def tags_and_references(page: str) -> tuple[set[str], list[str]]:
    """Every tag name of an HTML page, and every URL-valued attribute (href, src, xlink:href...)."""
    from html.parser import HTMLParser

    tags: set[str] = set()
    refs: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.add(tag)
            refs.extend(v or "" for k, v in attrs if k.split(":")[-1] in ("href", "src", "srcset", "action", "data"))

    Collect().feed(page)
    return tags, refs


# -- dedup show CLUSTER_ID -------------------------------------------------------------------


def test_show_diffs_give_every_copy_back(seeds_db):
    for c in read_clusters(seeds_db)[:20]:
        out = run("show", seeds_db, c.id).stdout
        assert "\x1b[" not in out  # no colour when not a terminal
        shown = dict(re.findall(r"^\[.*?\] \S+  \(paragraph (\d+)\)\n  (.*)$", out, re.M))
        texts = {str(m.paragraph_id): m.text for m in c.members}
        assert shown.keys() == texts.keys()
        assert shown.pop(str(c.canonical.paragraph_id)) == c.canonical.text
        for pid, line in shown.items():
            assert unmark(line) == texts[pid]


def test_show_marks_a_real_edit_and_counts_script_differences(tmp_path):
    canonical = "今年以来，全县经济运行总体平稳，主要经济指标保持增长，重点项目建设有序推进。"
    copy = "今年以來，全縣經濟運行總體平穩，主要經濟指標保持較快增長，重點項目建設有序推進。"
    root = write_corpus(tmp_path / "c", {"a.txt": canonical + "\n", "b.txt": copy + "\n"})
    db = tmp_path / "s.db"
    assert run("scan", root, "--db", db, "-q").exit_code == 0
    [cluster] = read_clusters(db)
    result = run("show", db, cluster.id)
    assert result.exit_code == 0
    assert "保持{+較快+}增長" in result.stdout
    assert "(2 inserted, 0 deleted; also script " in result.stdout
    coloured = run("show", db, cluster.id, "--color").stdout
    assert "\x1b[" in coloured and "{+較快+}" in coloured


# -- dedup show --doc PATH -------------------------------------------------------------------


def test_show_doc_gives_each_paragraphs_status(seeds_db):
    path = query(seeds_db, "SELECT path FROM documents ORDER BY id LIMIT 1")[0][0]
    result = run("show", seeds_db, "--doc", path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    expected = query(
        seeds_db,
        """SELECT p.line_start, p.cluster_id, m.relation, c.boilerplate FROM paragraphs p JOIN documents d ON d.id = p.doc_id
           LEFT JOIN members m ON m.paragraph_id = p.id LEFT JOIN clusters c ON c.id = m.cluster_id
           WHERE d.path = ? ORDER BY p.idx""",
        (path,),
    )
    assert lines[0].startswith(f"Document {path}: {len(expected)} paragraphs: ")
    rows = lines[2:]
    assert len(rows) == len(expected)
    statuses = set()
    for row, (line, cluster_id, relation, boilerplate) in zip(rows, expected):
        fields = row.split()
        status = "unique" if cluster_id is None else "boilerplate" if boilerplate else "canonical" if relation == "canonical" else "copy"
        statuses.add(status)
        assert fields[0] == str(line) and fields[1] == status, row
        if cluster_id is not None:
            assert f"#{cluster_id}" in fields
        if status == "copy":
            assert fields[2] == relation and "(of " in row
    assert statuses == {"unique", "canonical", "copy", "boilerplate"}  # the seed shows every status


def test_show_doc_unknown_path_names_it_and_a_close_one(seeds_db):
    path = query(seeds_db, "SELECT path FROM documents ORDER BY id LIMIT 1")[0][0]
    assert_error(run("show", seeds_db, "--doc", path[:-1]), 1, repr(path[:-1]), f"did you mean {path!r}")
    assert_error(run("show", seeds_db, "--doc", "nothing/like/it"), 1, "'nothing/like/it'", "relative to the corpus")


@pytest.mark.parametrize("args", [[], ["1", "--doc", "a.txt"], ["1", "--passage", "1"]], ids=["neither", "both", "cluster and passage"])
def test_show_needs_a_cluster_or_a_doc(seeds_db, args):
    assert_error(run("show", seeds_db, *args), 2, "CLUSTER_ID, --doc PATH or --passage ID")


# -- dedup report: content, escaping, caps ---------------------------------------------------


def test_report_figures_are_the_databases(seeds_db):
    data = gather(open_existing(seeds_db), Limits())
    one = lambda sql: query(seeds_db, sql)[0][0]  # noqa: E731
    assert data.summary.documents == one("SELECT count(*) FROM documents") == len(data.documents)
    assert data.summary.paragraphs == one("SELECT count(*) FROM paragraphs")
    assert sum(r + b for _, r, b in data.sizes) == one("SELECT count(*) FROM clusters")
    assert sum(b for _, _, b in data.sizes) == one("SELECT count(*) FROM clusters WHERE boilerplate")
    # the matrix holds every character of every real-reuse copy (5 documents: all on the map)
    assert sum(map(sum, data.matrix)) == one(
        """SELECT sum(length(p.text)) FROM members m JOIN paragraphs p ON p.id = m.paragraph_id
           JOIN clusters c ON c.id = m.cluster_id WHERE m.relation != 'canonical' AND NOT c.boilerplate"""
    )
    # ranked by the characters their copies hold in other documents than the canonical's
    copied = dict(query(seeds_db, """SELECT c.id, sum(CASE WHEN p.doc_id != cp.doc_id THEN length(p.text) ELSE 0 END)
        FROM clusters c JOIN paragraphs cp ON cp.id = c.canonical_id JOIN members m ON m.cluster_id = c.id
        JOIN paragraphs p ON p.id = m.paragraph_id WHERE NOT c.boilerplate GROUP BY c.id"""))
    ranked = [copied[b.view.cluster_id] for b in data.blocks]
    assert ranked == sorted(ranked, reverse=True) and ranked[0] == max(copied.values()) > 0
    # the passages, largest first, each with both sides' paragraphs
    assert data.summary.passages == one("SELECT count(*) FROM passages") == len(data.spans) > 0
    sizes = [v.characters for v in data.passages]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == one("SELECT max(characters) FROM passages")


def test_report_escapes_corpus_text_and_loads_nothing(tmp_path):
    evil = '<script>alert("x")</script> 这段文字被复制到了两个文件里面，还带着一个脚本标签 <img src=http://e.vil/a.png>'
    root = write_corpus(tmp_path / "c", {"<b>.txt": evil + "\n普通的一段话。\n", "b.txt": evil + "！\n"})
    db = tmp_path / "s.db"
    assert run("scan", root, "--db", db, "-q").exit_code == 0
    out = tmp_path / "r.html"
    result = run("report", db, "--out", out)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert html.escape(evil) in page and "&lt;b&gt;.txt" in page
    # as a browser parses it: no script, nothing to fetch (links are in-page anchors, images inline)
    tags, refs = tags_and_references(page)
    assert not tags & {"script", "img", "link", "iframe", "object", "embed"}
    assert refs and all(r.startswith(("#", "data:image/png;base64,")) for r in refs), refs
    assert not re.search(r"url\((?!#)", page) and "@import" not in page  # SVG clip paths: url(#id)
    assert f"Report written to {out}" in result.stderr


def test_report_caps_what_it_inlines_and_says_so(seeds_db, tmp_path):
    limits = Limits(clusters=2, documents=2, paragraphs=30, matrix=3, pairs=1, members=1)
    data = gather(open_existing(seeds_db), limits, db_name=str(seeds_db))
    assert len(data.blocks) == 2 and all(len(b.copies) <= 1 for b in data.blocks)
    assert sum(len(v.paragraphs) for v in data.views) == 30
    assert len(data.matrix_docs) == 3 and len(data.pairs) <= 1
    page = render(data)
    assert "The 2 largest of" in page and f"dedup show {seeds_db} --doc" in page
    assert "3 of 5 documents that share most text" in page
    assert "more copies:" in page


def test_report_bad_input(tmp_path, seeds_db):
    assert_error(run("report", tmp_path / "none.db", "--out", tmp_path / "r.html"), 1, "none.db", "dedup scan")
    assert_error(run("report", seeds_db, "--out", tmp_path / "no" / "r.html"), 1, "no such folder")
    assert_error(run("report", seeds_db, "--out", tmp_path), 2, "--out")
    assert_error(run("report", seeds_db), 2, "--out")
    assert_error(run("report", seeds_db, "--out", tmp_path / "r.html", "--top", "-1"), 2, "--top")
    assert list(tmp_path.glob("*.html")) == [] and list(tmp_path.glob(".*tmp")) == []


# -- the seeds' report in a real browser ----------------------------------------------------


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} not found: the report test renders the page in headless Chromium; "
            "install Debian's package (apt-get install chromium fonts-wqy-zenhei; .ci/run does)"
        )
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}",
    ]  # fmt: skip
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=True)


def test_seeds_report_in_headless_chromium(seeds_db, tmp_path):
    out = tmp_path / "report.html"
    assert run("report", seeds_db, "--out", out).exit_code == 0
    dom = chromium("--dump-dom", out.as_uri(), profile=tmp_path / "profile").stdout
    cards = dict((label, value) for value, label in re.findall(
        r'<div class="card" data-figure="[^"]*"><div class="value">([^<]*)</div><div class="label">([^<]*)</div>', dom
    ))
    one = lambda sql: query(seeds_db, sql)[0][0]  # noqa: E731
    assert cards["documents"] == f"{one('SELECT count(*) FROM documents'):,}"
    assert cards["paragraphs"] == f"{one('SELECT count(*) FROM paragraphs'):,}"
    assert cards["clusters"] == f"{one('SELECT count(*) FROM clusters'):,}"
    assert cards["boilerplate clusters"] == f"{one('SELECT count(*) FROM clusters WHERE boilerplate'):,}"
    copies = one("SELECT count(*) FROM members WHERE relation != 'canonical'")
    assert cards["duplicate paragraphs"] == f"{copies:,}"
    # the block reused across most documents (seed 001's speech, retyped in seed 003), with its
    # canonical text and every copy's location, as the browser parsed it
    cid, text, path, line = query(seeds_db, """SELECT c.id, p.text, d.path, p.line_start FROM clusters c
        JOIN paragraphs p ON p.id = c.canonical_id JOIN documents d ON d.id = p.doc_id
        WHERE NOT c.boilerplate ORDER BY c.n_documents DESC, length(p.text) DESC LIMIT 1""")[0]
    block = re.search(rf'<details class="block" id="c{cid}".*?</details>', dom, re.S)
    assert block, f"cluster {cid} is missing from the page"
    assert html.escape(text, quote=False) in block.group() and f"{path}:{line}" in block.group()
    assert dom.count('<svg') >= 3  # the two charts and the heat map
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report-seeds.png"
    shot.unlink(missing_ok=True)
    chromium("--window-size=1280,2400", f"--screenshot={shot}", out.as_uri(), profile=tmp_path / "profile")
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_of_a_scan_without_copies(tmp_path):
    root = write_corpus(tmp_path / "c", {"a.txt": "第一段完全不同的文字内容。\n另一段毫无关系的句子。\n", "b.txt": "再来一段全新的文本。\n"})
    db = tmp_path / "s.db"
    assert run("scan", root, "--db", db, "-q").exit_code == 0
    data = gather(open_existing(db), Limits())
    assert data.blocks == [] and data.pairs == [] and sum(map(sum, data.matrix)) == 0
    page = render(data)
    assert "No text is reused." in page and 'href="#boilerplate"' not in page
    assert [p.status for v in data.views for p in v.paragraphs] == ["unique"] * 3
