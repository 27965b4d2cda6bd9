"""The Spark engine (local[2]) against the local engine: the same tables, row for row.

Spark starts once for the module (a JVM: several seconds). A local corpus this small takes the
driver path (spark_driver.py: seconds a scan); the distributed path costs about a minute a scan
on a 2-core machine, so two tests force it (a Parquet dataset, and ``driver_bytes=-1``).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.generate import generate
from helpers import SCAN_TABLES as TABLES, assert_same_tables as assert_same, scan_tables as tables
from dedup.apps.cli import cli
from dedup.config import ScanConfig
from dedup.store.import_parquet import import_parquet
from dedup.pipeline import scan

pytestmark = pytest.mark.slow
import pyspark  # noqa: F401, E402  make test installs the spark extra: a missing pyspark fails here, never skips

@pytest.fixture(scope="module")
def spark():
    from dedup.engines.spark import session

    spark = session("local[2]", shuffle_partitions=4)
    yield spark
    spark.stop()


def test_seeds_through_the_cli_same_tables_and_show_stats_export_work(spark, seeds, tmp_path):
    runner = CliRunner()
    local_db, spark_db = tmp_path / "local.db", tmp_path / "spark.db"
    assert runner.invoke(cli, ["scan", str(seeds), "--db", str(local_db), "-q"]).exit_code == 0
    result = runner.invoke(cli, ["scan", str(seeds), "--engine", "spark", "--master", "local[2]", "--db", str(spark_db)])
    assert result.exit_code == 0, result.output
    assert "Most reused blocks" in result.output
    assert_same(local_db, spark_db)
    assert tables(local_db, ["passages"])["passages"], "the seeds hold passages: the comparison could fail"
    # the storage contract is met, so every reader works on it
    stats = runner.invoke(cli, ["stats", str(spark_db)])
    assert stats.exit_code == 0 and "clusters" in stats.output
    local_stats = runner.invoke(cli, ["stats", str(local_db)]).output
    assert stats.output.splitlines()[1:5] == local_stats.splitlines()[1:5]
    assert runner.invoke(cli, ["show", str(spark_db), "1"]).output == runner.invoke(cli, ["show", str(local_db), "1"]).output
    run = sqlite3.connect(spark_db).execute("SELECT config, timings FROM runs").fetchone()
    assert json.loads(run[0])["threshold"] == 0.6
    timings = json.loads(run[1])
    # the seeds fit the driver: read on the executors in one Spark job, matched on the driver
    assert {"read", "sign", "candidates", "verify", "cluster", "store", "passages", "export"} <= set(timings)
    assert (timings["spark_jobs"], timings["spark_stages"]) == (1, 1)


def test_generated_dump_with_jsonl_same_tables(spark, tmp_path):
    from dedup.engines.spark import scan_spark

    generate(tmp_path / "gen", n_docs=120, seed=7)
    corpus = tmp_path / "gen" / "docs"
    # a JSONL file beside the text files: records are documents of their own
    texts = [p.read_bytes().decode("utf-8", "replace") for p in sorted(corpus.rglob("*.txt"))[:20]]
    lines = [json.dumps({"id": f"r{i}", "text": t}, ensure_ascii=False) for i, t in enumerate(texts)]
    (corpus / "zz_records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = ScanConfig(canonical="longest")
    scan(corpus, config, tmp_path / "local.db")
    result = scan_spark(corpus, config, tmp_path / "out", spark=spark)
    import_parquet(tmp_path / "out", tmp_path / "spark.db")
    assert result.counts["clusters"] > 50 and result.counts["verified_edges"] > 50  # a test that could fail
    assert_same(tmp_path / "local.db", tmp_path / "spark.db")
    # as many jobs as for the seeds: they do not grow with the counts
    assert (result.timings["spark_jobs"], result.timings["spark_stages"]) == (1, 1)


def test_driver_path_read_in_groups_gives_the_same_tables(spark, tmp_path, monkeypatch):
    """A corpus of more than GROUP_BYTES is read by a Spark job a group of its files: the
    batches still come back in corpus order."""
    from dedup.engines import spark_driver
    from dedup.engines.spark import scan_spark

    generate(tmp_path / "gen", n_docs=60, seed=3)
    corpus = tmp_path / "gen" / "docs"
    total = sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file())
    monkeypatch.setattr(spark_driver, "GROUP_BYTES", total // 3 + 1)
    monkeypatch.setattr("dedup.engines.local.GROUP_BYTES", total // 12)  # jobs of a few files, so that there are groups
    scan(corpus, ScanConfig(), tmp_path / "local.db")
    result = scan_spark(corpus, ScanConfig(), tmp_path / "out", spark=spark)
    assert result.timings["spark_jobs"] == 3
    import_parquet(tmp_path / "out", tmp_path / "spark.db")
    assert_same(tmp_path / "local.db", tmp_path / "spark.db")


def test_driver_path_skips_a_bad_record_as_the_local_engine_does(spark, seeds, tmp_path):
    """A record that cannot be read is an error made on an executor: it comes back in corpus
    order and is skipped (or stops the run) as the local engine's read stage decides."""
    from dedup.engines.spark import scan_spark
    from dedup.errors import CorpusError

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seed_files = sorted(seeds.glob("*.txt"))
    for p in seed_files[:2]:
        (corpus / p.name).write_bytes(p.read_bytes())
    good = json.dumps({"id": "r1", "text": seed_files[0].read_text(encoding="utf-8")}, ensure_ascii=False)
    (corpus / "001b_records.jsonl").write_text(good + '\n{"id": "r2", "text": \n' + good.replace('"r1"', '"r3"') + "\n", encoding="utf-8")
    local = scan(corpus, ScanConfig(), tmp_path / "local.db", skip_bad=True)
    assert local.skipped, "the bad record is skipped locally: the comparison could fail"
    result = scan_spark(corpus, ScanConfig(), tmp_path / "out", spark=spark, skip_bad=True)
    assert [(s.path, s.reason) for s in result.skipped] == [(s.path, s.reason) for s in local.skipped]
    import_parquet(tmp_path / "out", tmp_path / "spark.db")
    assert_same(tmp_path / "local.db", tmp_path / "spark.db")
    with pytest.raises(CorpusError, match="001b_records.jsonl"):
        scan_spark(corpus, ScanConfig(), tmp_path / "out2", spark=spark)


def test_parquet_dataset_input_same_clusters_as_the_jsonl(spark, seeds, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dedup.engines.spark import scan_spark

    docs = [{"id": p.name, "text": p.read_text(encoding="utf-8")} for p in sorted(seeds.glob("*.txt"))]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "seeds.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    pq.write_table(pa.Table.from_pylist(docs), tmp_path / "seeds.parquet")
    config = ScanConfig()
    scan(tmp_path / "in", config, tmp_path / "local.db")
    scan_spark(str(tmp_path / "seeds.parquet"), config, tmp_path / "out", spark=spark)
    import_parquet(tmp_path / "out", tmp_path / "spark.db")
    assert_same(tmp_path / "local.db", tmp_path / "spark.db", only=("clusters", "members", "keys", "checked"))
    paths = [r[0] for r in sqlite3.connect(tmp_path / "spark.db").execute("SELECT path FROM documents ORDER BY id")]
    assert paths == [d["id"] for d in docs]


def test_spark_options_need_the_spark_engine(seeds, tmp_path):
    result = CliRunner().invoke(cli, ["scan", str(seeds), "--master", "local[2]", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2
    assert "--master is an option of the Spark engine; add --engine spark" in result.output


def test_import_parquet_refuses_a_folder_that_is_not_a_spark_output(tmp_path):
    (tmp_path / "out").mkdir()
    result = CliRunner().invoke(cli, ["import-parquet", str(tmp_path / "out"), "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {tmp_path / 'out'}: no runs table; pass the --out folder of 'dedup scan --engine spark'"
    assert not (tmp_path / "x.db").exists()


def test_scan_refuses_an_out_folder_holding_other_files(spark, seeds, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["scan", str(seeds), "--engine", "spark", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "exists and is not the output of a Spark scan; choose another --out folder" in result.output
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_missing_pyspark_says_how_to_install(monkeypatch, seeds, tmp_path):
    import builtins

    from dedup.engines import spark as spark_engine

    real_import = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name.startswith("pyspark"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    with pytest.raises(spark_engine.EngineError, match=r"pip install 'dedup\[spark\]'"):
        spark_engine.session("local[2]")


def test_licence_text_where_keys_follow_their_neighbours_same_tables(spark, tmp_path):
    """Real licence text: keys that the rounds give to one canonical and that then follow their
    neighbours to another (cluster.follow_neighbours) land where they land locally."""
    from helpers import write_corpus
    from dedup.engines.spark import scan_spark
    from texts import GPL_STANZA, LIBRARY_NOTICE, PACKAGE_NOTICE, PROGRAM_NOTICE
    from texts import BASH_MIT_LIKE, DICKENS, GOLDEN

    files = {"1-stanza.txt": GPL_STANZA, "2-package.txt": PACKAGE_NOTICE, "3-program.txt": PROGRAM_NOTICE, "4-library.txt": LIBRARY_NOTICE,
             "bash.txt": BASH_MIT_LIKE, "dickens.txt": DICKENS, **{f"{name.lower()}.txt": GOLDEN[name][0] for name in ("FONTCONFIG", "LIBWEBP7", "GTK_PO")}}
    corpus = write_corpus(tmp_path / "corpus", files)
    config = ScanConfig(split="blocks", containment=0.97)  # the case of test_cluster
    scan(corpus, config, tmp_path / "local.db")
    result = scan_spark(corpus, config, tmp_path / "out", spark=spark, driver_bytes=-1)  # the distributed path, forced
    assert "components" in result.timings and result.timings["spark_jobs"] > 1
    import_parquet(tmp_path / "out", tmp_path / "spark.db")
    moved = sqlite3.connect(tmp_path / "local.db").execute(
        "SELECT m.relation FROM members m JOIN paragraphs p ON p.id = m.paragraph_id JOIN documents d ON d.id = p.doc_id "
        "WHERE d.path = '3-program.txt'").fetchall()
    assert moved == [("near",)]  # a test that could fail: the rounds made it a partial copy of the stanza
    assert_same(tmp_path / "local.db", tmp_path / "spark.db")


def test_the_shipped_package_imports_from_its_zip_and_finds_its_core_tables(tmp_path):
    """Executors import dedup from the zip the engine ships; with an installed dedup beside it
    (this venv's) the compiled core loads and its tables' cache is named from the modules'
    sources, which must be read from the zip, not as files (they are not)."""
    import subprocess
    import sys

    from dedup.engines.spark import package_zip

    archive = package_zip(tmp_path)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import dedup.compiled as c; "
            "assert '.zip' in c.__file__, c.__file__; print(c._cache_path().name); c.prepare()")
    done = subprocess.run([sys.executable, "-c", code, str(archive)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.startswith("core-tables-")

