"""The benchmark harnesses run end to end on a tiny dump (a test that they work, not a timing)."""

import csv
import json

from bench import quality, speed


def test_quality_harness_scores_every_tool(tmp_path):
    rows = quality.run(docs=25, seed=4, work=tmp_path / "work", results=tmp_path / "res", readme=tmp_path / "README.md")
    assert [r["tool"] for r in rows] == list(quality.TOOLS)
    for r in rows:
        for column in quality.COLUMNS:
            assert 0.0 <= r[column] <= 1.0 or column == "ari"
    by_tool = {r["tool"]: r for r in rows}
    # exact hashing finds a subset of what dedup finds on a dump full of mutated copies
    assert by_tool["dedup"]["pair_recall"] >= by_tool["exact"]["pair_recall"]
    assert "<!-- quality:start -->" in (tmp_path / "README.md").read_text(encoding="utf-8")
    with open(tmp_path / "res" / "quality.csv", newline="", encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == len(quality.TOOLS)


def test_speed_harness_measures_each_tool_in_a_child_process(tmp_path):
    dump = speed.ensure_dump(tmp_path / "work", 200_000, seed=1)
    for tool in ("dedup", "read", "exact"):
        row = speed.run_tool(tool, dump, 0.6, workers=1)
        assert row["tool"] == tool and row["paragraphs"] > 0
        assert row["wall_s"] > 0 and row["cpu_s"] > 0 and row["peak_rss_mb"] > 10
        if tool == "dedup":
            assert set(json.loads(row["timings"])) >= {"read", "sign", "candidates", "verify", "cluster", "store"}


def test_accuracy_against_exact_jaccard_on_a_small_dump(tmp_path):
    from bench.accuracy import accuracy
    from bench.generate import generate
    from dedup.config import ScanConfig
    from dedup.pipeline import scan

    generate(tmp_path / "dump", n_docs=60, seed=5)
    db = tmp_path / "a.db"
    scan(tmp_path / "dump" / "docs", ScanConfig(workers=1), db)
    found = accuracy(db, sample=100_000)
    assert found["pairs_at_threshold"] > 20  # the dump is full of copies
    assert found["recall"] >= 0.95  # LSH misses a pair at the threshold once in 200
    assert found["member_precision"] == 1.0  # every stored relation holds on the exact sets
    assert 0.0 <= found["precision"] <= 1.0


def test_keys_baselines_use_dedups_shingles_and_find_the_cross_script_copies():
    """rensa-keys and datasketch-keys see normalized keys: a traditional-script copy with
    pinyin junk is one cluster with its simplified original, which raw 5-grams never join."""
    from bench.baselines import BASELINES, Para

    original = "各级党组织要切实履行疫情防控主体责任，坚决守住外防输入内防反弹的底线"
    copy = "各級黨組(zǔ)織要切實履行疫情防控主體責任，堅決守住外防輸入內防反彈的底線"
    other = "今年以来我市经济运行总体平稳，工业生产稳中有进，消费市场逐步回暖"
    paragraphs = [Para("a.txt", 1, 1, original), Para("b.txt", 1, 1, copy), Para("c.txt", 1, 1, other)]
    for tool in ("rensa", "datasketch"):
        raw = BASELINES[tool](paragraphs, 0.6).labels
        keyed = BASELINES[f"{tool}-keys"](paragraphs, 0.6).labels
        assert raw[0] is None or raw[0] != raw[1], tool
        assert keyed[0] is not None and keyed[0] == keyed[1] and keyed[2] is None, tool


def test_update_harness_scans_updates_and_rescans(tmp_path):
    from bench import update

    rows = update.run(200_000, 0.1, seed=2, work=tmp_path / "work")
    assert [r["step"].split(":")[0] for r in rows] == ["full scan of 90%", "update", "full scan of 100%"]
    assert all(r["wall_s"] > 0 and r["paragraphs"] > 0 for r in rows)
    assert rows[1]["paragraphs"] == rows[2]["paragraphs"] > rows[0]["paragraphs"]
    assert "The update took" in update.markdown(rows)


def test_service_harness_measures_queries_and_writes(tmp_path):
    from bench import service

    rows = service.run(200_000, clients=2, seconds=1.0, writes=1, batch=3, seed=2, work=tmp_path / "work")
    assert [r["load"].split(",")[0] for r in rows] == [
        "/query", "/documents", "/query", "/documents", "/query", "/documents", "dedup add of the same 3 files",
    ]
    assert rows[0]["requests"] > 0 and rows[1]["requests"] == 1 and rows[0]["p99_ms"] >= rows[0]["p50_ms"] > 0
    assert rows[5]["load"] == "/documents, one batch of 3" and rows[5]["requests"] == rows[6]["requests"] == 1
