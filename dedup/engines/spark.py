"""The Spark engine: the scan of local.py on a Spark cluster, with the same clusters and canonicals.

A local corpus of up to ``spark_driver.DRIVER_BYTES`` takes the driver path (spark_driver.py:
read, normalized and signed on the executors, matched on the driver by the local engine's
stages). Anything larger, and every dataset Spark reads itself, takes the distributed path of
this module, where every stage runs the library's own functions where the data is and only the
joins between them are Spark's:

read, split, normalize,   mapPartitions over the input files (sources.read_file, then
fingerprint               scan.prepare_document), or over the rows of a Parquet / JSON Lines
                          dataset that Spark reads itself (HDFS and S3 paths go to it as given)
number                    zipWithIndex in corpus order: documents and paragraphs as the local
                          engine numbers them; keys by their first paragraph, as it does
sign                      mapPartitions of local.sign_batch
candidates                band hashes exploded and grouped by (band, hash); inside a bucket the
                          keys in key order are paired by lsh.group_pairs (the same window);
                          anchors likewise, with the same bucket cap and shared-anchor share
verify                    pairs joined to their keys' texts and scored by verify.score_pairs
components                large-star / small-star (Kiveris et al., "Connected Components in
                          MapReduce and Beyond", SoCC 2014), iterated until no edge changes
cluster                   per component: cluster.fragments and cluster.cluster_keys, whose rounds
                          never cross components, so per component is the same as all at once
expand, store             paragraphs joined to their key's canonical; clusters numbered by their
                          canonical paragraph; scan.cluster_rows; boilerplate.find_boilerplate on
                          partitions of whole clusters; passages.find_passages on the driver
                          over the members; Parquet tables of the storage contract

The output folder holds one Parquet table per SQLite table (documents, paragraphs, clusters,
members, passages, keys, checked, files, runs), with the SQLite columns; ``import_parquet`` loads it.
"""

from __future__ import annotations

import functools
import json
import operator
import os
import shutil
import sys
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..match.boilerplate import Members, find_boilerplate, site_keys
from ..match.canonical import MemberFacts, rank_key
from ..match.cluster import cluster_keys, fragments
from ..match.joined import judge_joined, with_joined
from ..config import JOINED_HALF_SHARE, MIN_KEY_CHARS, ScanConfig
from ..sources.corpus import CorpusFileError, Document, Skipped, list_files
from ..errors import CorpusError, DatabaseError, EngineError
from ..match.lsh import ANCHOR_MAX_BUCKET, ANCHOR_MIN_SHARE, BUCKET_WINDOW, group_pairs
from ..compiled import make_normalizer
from ..sources.records import RecordError, record_document
from ..match.passages import PassageMember, find_passages
from .local import (
    SIGN_BATCH_CHARS, ClusterMember, cluster_rows, document_row, file_rows, prepare_document, sign_batch,
)
from ..run import Run, no_readable_documents
from ..match.signatures import shingle_hashes
from ..sources.dispatch import read_file
from ..store.writer import table_columns
from ..timing import epoch
from ..match.verify import ShingleSets, score_pairs
from .spark_driver import DRIVER_BYTES, fits_driver, scan_on_driver
from .spark_jvm import BASE_OPTIONS, discard_archive, driver_java_options

TABLES = ("documents", "paragraphs", "clusters", "members", "passages", "keys", "checked", "files", "runs")
VERIFY_BATCH = 20_000  # pairs scored at a time on an executor
INSTALL_HINT = "pip install 'dedup[spark]'"
JAVA_HINT = "apt-get install openjdk-17-jre-headless (or set JAVA_HOME)"


@dataclass
class SparkResult:
    """What a Spark scan reports: where its tables are, and the figures of the run."""

    out: str
    counts: dict
    timings: dict
    skipped: list[Skipped] = field(default_factory=list)


def is_dataset(corpus: str) -> bool:
    """Is ``corpus`` read by Spark itself (a URI, a glob, a Parquet path) rather than by the
    library's reader (a local folder or file, as the local engine reads it)?"""
    return "://" in corpus or any(c in corpus for c in "*?[") or ".parquet" in corpus.lower()


# ---------------------------------------------------------------------------------------------
# The session


def session(master: str | None = None, shuffle_partitions: int | None = None):
    """A SparkSession (the active one if any), or EngineError saying what to install."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError(f"the Spark engine needs pyspark: {INSTALL_HINT} (and Java 17: {JAVA_HINT})") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        raise EngineError(f"the Spark engine needs Java 17, which is not on PATH: {JAVA_HINT}")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    master = master or "local[*]"
    local = master.startswith("local")
    builder = (
        SparkSession.builder.appName("dedup").master(master)
        .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
        .config("spark.python.worker.reuse", "true")
    )
    if local or shuffle_partitions:  # a cluster's own defaults know its size better
        partitions = str(shuffle_partitions or 2 * _local_cores(master))
        builder = builder.config("spark.sql.shuffle.partitions", partitions).config("spark.default.parallelism", partitions)
    options = driver_java_options()
    try:
        try:
            spark = builder.config("spark.driver.extraJavaOptions", options).getOrCreate()
        except Exception:
            if not discard_archive(options):  # a damaged class archive crashes the JVM: once without it
                raise
            spark = builder.config("spark.driver.extraJavaOptions", BASE_OPTIONS).getOrCreate()
    except Exception as error:  # the JVM did not start, or the master cannot be reached
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise EngineError(f"Spark did not start on {master}: {first}; check --master and Java 17 ({JAVA_HINT})") from None
    spark.sparkContext.setLogLevel("ERROR")
    if not local:
        _ship_package(spark)
    return spark


def _local_cores(master: str) -> int:
    """The cores of a local[N] master (local[*]: every core of the machine).

    >>> _local_cores("local[2]"), _local_cores("local")
    (2, 1)
    """
    inside = master[len("local") :].strip("[]").split(",")[0]
    if inside == "*":
        return os.cpu_count() or 1
    return int(inside) if inside.isdigit() else 1


def _ship_package(spark) -> None:
    """Send this dedup package to the executors (a cluster's Python may not have it)."""
    spark.sparkContext.addPyFile(str(package_zip(Path(tempfile.mkdtemp(prefix="dedup-spark-")))))


def package_zip(folder: Path) -> Path:
    """FOLDER/dedup.zip: the Python modules of this dedup package, importable from the zip (on
    executors that have an installed dedup, its compiled core still loads beside them)."""
    package = Path(__file__).resolve().parents[1]  # dedup/, this module being dedup/engines/spark.py
    archive = folder / "dedup.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in package.rglob("*.py"):
            z.write(path, Path("dedup") / path.relative_to(package))
    return archive


def _keep(rdd):
    from pyspark import StorageLevel

    return rdd.persist(StorageLevel.MEMORY_AND_DISK)


# ---------------------------------------------------------------------------------------------
# Reading: functions that run on the executors


def _prepare_files(items: Iterator[str], root: str, config: ScanConfig) -> Iterator:
    """The prepared documents (or errors) of input files, in order."""
    normalizer = make_normalizer(config.steps)
    for path in items:
        try:
            for doc in read_file(Path(path), Path(root), config.record_fields):
                yield doc if isinstance(doc, CorpusFileError) else prepare_document(doc, config.split, normalizer)
        except CorpusFileError as error:
            yield error


def _record_document(row, config: ScanConfig) -> Document | RecordError:
    """The document of one dataset row, as ``records.record_document`` makes one of a JSONL
    line's object (a row holds every column of the dataset: a null is a missing field)."""
    values = {k: v for k, v in row.asDict(recursive=True).items() if v is not None}
    source, number = values.pop("_source"), values.pop("_record")
    try:
        return record_document(values, source, number, config.record_fields)
    except RecordError as error:
        return error


def _prepare_rows(rows: Iterator, config: ScanConfig) -> Iterator:
    normalizer = make_normalizer(config.steps)
    for row in rows:
        doc = _record_document(row, config)
        yield doc if isinstance(doc, CorpusFileError) else prepare_document(doc, config.split, normalizer)


def _read_dataset(spark, corpus: str, config: ScanConfig):
    """The rows of a Parquet or JSON Lines dataset in corpus order: by file, then row."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    try:
        reader = spark.read.parquet if ".parquet" in corpus.lower() else spark.read.json
        df = reader(corpus)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CorpusError(f"{corpus}: Spark cannot read it ({first}); pass a Parquet or JSON Lines path or glob") from None
    if config.text_field not in df.columns:
        raise CorpusError(f"{corpus}: no {config.text_field!r} column (it has {', '.join(df.columns)}); name the text column with --text-field")
    df = df.withColumn("_source", F.input_file_name()).withColumn("_pos", F.monotonically_increasing_id())
    df = df.withColumn("_record", F.row_number().over(Window.partitionBy("_source").orderBy("_pos"))).drop("_pos")
    return df.orderBy("_source", "_record").rdd


# ---------------------------------------------------------------------------------------------
# Matching: functions that run on the executors


def _sign_partition(keys: Iterator[tuple], config: ScanConfig, b: int, r: int) -> Iterator[tuple]:
    """(key id, set size, band hashes, anchors) of every key, signed in batches of key characters."""
    batch: list[tuple] = []
    chars = 0
    for item in keys:
        batch.append(item)
        chars += len(item[1])
        if chars >= SIGN_BATCH_CHARS:
            yield from _sign_keys(batch, config, b, r)
            batch, chars = [], 0
    if batch:
        yield from _sign_keys(batch, config, b, r)


def _sign_keys(batch: list[tuple], config: ScanConfig, b: int, r: int) -> Iterator[tuple]:
    signed = sign_batch([text for _, text in batch], config, b, r)
    starts = np.searchsorted(signed.anchor_keys, np.arange(len(batch) + 1))
    for i, (kid, _) in enumerate(batch):
        yield kid, int(signed.set_sizes[i]), signed.bands[i].copy(), signed.anchor_values[starts[i] : starts[i + 1]].copy()


def _window_pairs(kids, max_bucket: int | None = None) -> list[tuple[int, int]]:
    """The pairs the local engine takes from one bucket: its keys in key order, each paired with
    the next ``BUCKET_WINDOW`` (lsh.group_pairs itself, on the one bucket)."""
    rows = np.sort(np.fromiter(kids, dtype=np.int64))
    if len(rows) < 2:
        return []
    pairs = group_pairs(np.zeros(len(rows), dtype=np.uint8), rows, BUCKET_WINDOW, max_bucket)
    return list(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist()))


def _shingle_sets(texts: list[str], config: ScanConfig) -> ShingleSets:
    dense_k, other_k = config.shingle_sizes()
    return ShingleSets.from_shingles(*shingle_hashes(texts, other_k, config.seed, dense_k=dense_k))


def _verify_partition(pairs: Iterator[tuple], config: ScanConfig) -> Iterator[tuple]:
    """(a, b, Jaccard, containment, is a copy) of every pair ((a, b), (text a, text b))."""
    rule = config.match_rule()
    batch: list[tuple] = []

    def score(batch):
        index: dict[int, int] = {}
        texts: list[str] = []
        for (a, b), (ta, tb) in batch:
            for k, t in ((a, ta), (b, tb)):
                if k not in index:
                    index[k] = len(texts)
                    texts.append(t)
        sets = _shingle_sets(texts, config)
        ia = np.array([index[a] for (a, _), _ in batch], dtype=np.int64)
        ib = np.array([index[b] for (_, b), _ in batch], dtype=np.int64)
        jac, con = score_pairs(sets, ia, ib)
        ok = rule.judge(jac, con, sets.sizes[ia], sets.sizes[ib])
        for ((a, b), _), j, c, o in zip(batch, jac.tolist(), con.tolist(), ok.tolist()):
            yield a, b, j, c, o

    for item in pairs:
        batch.append(item)
        if len(batch) >= VERIFY_BATCH:
            yield from score(batch)
            batch = []
    if batch:
        yield from score(batch)


def _large_star(edges):
    """Each node's larger neighbours link to the smallest node of its neighbourhood."""

    def star(item):
        u, neighbours = item
        m = min(min(neighbours), u)
        return [(v, m) for v in neighbours if v > u]

    return edges.flatMap(lambda e: (e, (e[1], e[0]))).groupByKey().flatMap(star).distinct()


def _small_star(edges):
    """Each node's smaller neighbours (and itself) link to the smallest of them."""

    def star(item):
        u, neighbours = item
        m = min(min(neighbours), u)
        return [(v, m) for v in set(neighbours) | {u} if v != m]

    return edges.map(lambda e: e if e[1] < e[0] else (e[1], e[0])).groupByKey().flatMap(star).distinct()


def connected_components(edges):
    """(node, smallest node of its component) for every node of ``edges`` (pairs of ints), by
    alternating large-star and small-star until the edge set stops changing; each round is a
    few shuffles, and the rounds are O(log^2 n) (Kiveris et al. 2014)."""
    current = _keep(edges.map(lambda e: (max(e), min(e))).distinct())
    size = current.count()
    while True:
        nxt = _keep(_small_star(_large_star(current)))
        # both are sets: the same size and nothing new means the same set
        next_size = nxt.count()
        changed = next_size != size or not nxt.subtract(current).isEmpty()
        current.unpersist()
        current, size = nxt, next_size
        if not changed:
            break
    return current.union(current.map(lambda e: (e[1], e[1]))).distinct()


def _cluster_component(item, config: ScanConfig) -> list[tuple]:
    """(key, canonical key or -1, Jaccard, containment, is a fragment) of every key of one
    connected component, by the library's fragments and cluster_keys."""
    _, (nodes, edges) = item
    nodes = sorted(nodes)  # (key id, text, rank)
    index = {kid: i for i, (kid, _, _) in enumerate(nodes)}
    edges = sorted(edges)
    pairs = np.array([[index[a], index[b]] for a, b, _ in edges], dtype=np.int64).reshape(-1, 2)
    jaccard = np.array([j for _, _, j in edges], dtype=np.float64)
    sets = _shingle_sets([text for _, text, _ in nodes], config)
    fragment = fragments(len(nodes), pairs, jaccard, sets.sizes, config.threshold)
    # a fragment ranks after every whole key (local.match_and_store), then by the policy
    order = sorted(range(len(nodes)), key=lambda i: (bool(fragment[i]), nodes[i][2]))
    rank = np.empty(len(nodes), dtype=np.int64)
    rank[order] = np.arange(len(nodes))
    rule = config.match_rule()
    match = lambda a, c: rule.apply(sets, a, c)  # noqa: E731
    # the edges the rule alone rejects are the joined pairs (_joined_stage): accepted too
    joined = pairs[~match(pairs[:, 0], pairs[:, 1])[0]] if len(pairs) else pairs
    kc = cluster_keys(len(nodes), pairs, jaccard, rank, with_joined(match, joined, len(nodes)), config.threshold)
    return [
        (kid, nodes[int(c)][0] if c >= 0 else -1, float(s), float(k), bool(f))
        for (kid, _, _), c, s, k, f in zip(nodes, kc.canonical.tolist(), kc.similarity, kc.containment, fragment)
    ]


def _describe(item, config: ScanConfig, furniture) -> tuple:
    """The rows of one cluster: ((canonical position, members), cluster index)."""
    (canon_pos, members), index = item
    group = sorted(members, key=lambda m: m[0].para_id)
    n_docs = len({m[1] for m in group})
    return cluster_rows(config, index + 1, [m[0] for m in group], canon_pos + 1, n_docs, index + 1 in furniture.value)


def _furniture_partition(clusters: Iterator, sizes) -> Iterator[int]:
    """The boilerplate cluster ids among whole clusters (cluster id, [(doc, idx, chars,
    document paragraphs, document characters, site keys)]): boilerplate.find_boilerplate."""
    rows, sites_of = [], {}
    for cid, members in clusters:
        for doc, idx, chars, n, page, keys in members:
            rows.append((cid, doc, idx, chars, n, page))
            sites_of[doc] = keys
    if rows:
        yield from find_boilerplate(Members(*(np.array(col, dtype=np.int64) for col in zip(*rows))), sites_of, sizes.value)


# ---------------------------------------------------------------------------------------------
# The scan


def scan_spark(
    corpus: str | Path,
    config: ScanConfig,
    out: str | Path,
    *,
    master: str | None = None,
    skip_bad: bool = False,
    on_skip: Callable[[Skipped], None] | None = None,
    spark=None,
    driver_bytes: int = DRIVER_BYTES,
) -> SparkResult:
    """Scan ``corpus`` on Spark and write the result as Parquet tables in the folder ``out``.

    ``corpus`` is a local folder or file (read as the local engine reads it), or a Parquet or
    JSON Lines path, glob or URI that Spark reads (``config.text_field`` and ``id_field`` name
    its columns). A local corpus of at most ``driver_bytes`` takes the driver path
    (spark_driver.py: read on the executors, matched on the driver); a larger one or a dataset,
    the distributed stages below. Raises CorpusError, DatabaseError or EngineError with a
    one-line message.
    """
    corpus, out = str(corpus), str(out)
    _check_out(out)
    spark = spark or session(master)
    sc = spark.sparkContext
    run = Run(skip_bad=skip_bad, on_skip=on_skip)
    jobs = JobCount(sc)
    files: list[Path] = []
    if not is_dataset(corpus):
        files = list_files(os.path.abspath(corpus), on_error=run.on_listing_error, selection=config.selection)
        if fits_driver(files, driver_bytes):
            counts = scan_on_driver(spark, corpus, out, files, config, run, jobs.figures)
            return SparkResult(out, counts, {**run.timer.timings, **jobs.figures()}, run.skipped)
    counts = _scan_distributed(spark, corpus, out, files, config, run, jobs)
    return SparkResult(out, counts, {**run.timer.timings, **jobs.figures()}, run.skipped)


class JobCount:
    """The Spark jobs and stages a scan started (its job group's), for ``runs.timings``: a
    figure that must grow with the rounds of the components loop, never with the counts."""

    def __init__(self, sc) -> None:
        self.sc, self.group = sc, f"dedup-scan-{uuid.uuid4().hex}"
        sc.setJobGroup(self.group, "dedup scan")

    def figures(self) -> dict:
        tracker = self.sc.statusTracker()
        ids = tracker.getJobIdsForGroup(self.group)
        infos = [tracker.getJobInfo(i) for i in ids]
        return {"spark_jobs": len(ids), "spark_stages": sum(len(info.stageIds) for info in infos if info is not None)}


def _scan_distributed(spark, corpus: str, out: str, files: list[Path], config: ScanConfig, run: Run, jobs: JobCount) -> dict:
    """The scan as Spark stages over RDDs (the module's docstring); its counts."""
    sc = spark.sparkContext
    # read, split, normalize, fingerprint
    if is_dataset(corpus):
        root = corpus
        prepared = _read_dataset(spark, corpus, config).mapPartitions(functools.partial(_prepare_rows, config=config))
    else:
        root = str(Path(corpus).resolve())
        slices = max(1, min(len(files), sc.defaultParallelism * 4))
        prepared = sc.parallelize([str(f) for f in files], slices).mapPartitions(
            functools.partial(_prepare_files, root=os.path.abspath(corpus), config=config)
        )
    prepared = _keep(prepared)

    stages = SparkStages(spark, corpus, out, files, config, run, prepared)
    counts = run.execute(stages)
    row = run.row(1, root, config, counts)
    row["timings"] = {**row["timings"], **jobs.figures()}
    row.update({k: json.dumps(row[k], ensure_ascii=False, sort_keys=True) for k in ("counts", "timings", "skipped")})
    _write_table(spark, out, "runs", sc.parallelize([tuple(row.get(c) for c in table_columns("runs"))], 1))
    stages.unpersist()
    return counts


class SparkStages:
    """How the Spark engine carries out each stage (``Run.execute`` calls them in order), each
    a function below on RDDs kept on the object; it adds "components" (connected components of
    the verified edges) and "expand" (key clusters to paragraph rows). Passages are found and
    written with the other tables by the store stage (one pass over the members)."""

    steps = ("read", "sign", "candidates", "verify", "components", "cluster", "expand", "store", "passages")

    def __init__(self, spark, corpus: str, out: str, files: list[Path], config: ScanConfig, run: Run, prepared) -> None:
        self.spark, self.corpus, self.out, self.files, self.config, self.run = spark, corpus, out, files, config, run
        self.rdds = [prepared]
        self.prepared = prepared
        self.min_len = max(config.min_chars, MIN_KEY_CHARS)

    def _kept(self, *rdds) -> None:
        self.rdds.extend(rdds)

    def read(self) -> None:
        self.docs, self.paras, self.n_paragraphs = _read_stage(self.prepared, self.run, self.corpus)
        self._kept(self.docs, self.paras)

    def sign(self) -> None:
        self.keys = _numbered_keys(self.paras, self.config.canonical)
        b, r = self.config.lsh_bands()
        self.signatures, self.n_signed = _sign_stage(self.keys, self.config, self.min_len, b, r)
        self._kept(self.keys, self.signatures)

    def candidates(self) -> None:
        self.pairs, self.n_pairs, self.n_lsh = _candidates_stage(self.signatures, self.config)
        self._kept(self.pairs)

    def verify(self) -> None:
        """The pair rule, then the halves of broken lines judged together (match/joined.py)."""
        texts = self.keys.filter(lambda k, n=self.min_len: k[3] >= n).map(lambda k: (k[0], k[2]))
        self.checked, edges, _ = _verify_stage(self.pairs, texts, self.config)
        self.edges, self.n_edges = _joined_stage(self.paras, self.keys, texts, self.checked, edges, self.config, self.min_len)
        self._kept(self.checked, self.edges)

    def components(self) -> None:
        self.labels, _ = _components_stage(self.edges)
        self._kept(self.labels)

    def cluster(self) -> None:
        self.clustered, _ = _cluster_stage(self.keys, self.labels, self.edges, self.config)
        self._kept(self.clustered)

    def expand(self) -> None:
        sc = self.spark.sparkContext
        self.para_kid, self.described, self.n_furniture, self.n_clusters = _expand_stage(
            sc, self.docs, self.keys, self.paras, self.clustered, self.config, self.config.canonical
        )
        self._kept(self.para_kid, self.described)

    def store(self) -> None:
        b, r = self.config.lsh_bands()
        figures = {"paragraphs": self.n_paragraphs, "clusters": self.n_clusters, "boilerplate_clusters": self.n_furniture,
                   "signed_keys": self.n_signed, "candidate_pairs": self.n_pairs, "lsh_pairs": self.n_lsh,
                   "verified_edges": self.n_edges, "bands": b, "rows": r}
        self._counts = _store_stage(self.spark, self.out, self.corpus, self.files, self.run, self.config, self.docs, self.paras,
                                    self.keys, self.signatures, self.checked, self.para_kid, self.described, figures)

    def passages(self) -> None:
        """Done by the store stage: the passages table is written with the others."""

    def counts(self) -> dict:
        return self._counts

    def unpersist(self) -> None:
        for rdd in self.rdds:
            rdd.unpersist()


def _read_stage(prepared, run: Run, corpus: str):
    """(documents, paragraphs, their number): the read stage; a bad file is skipped or stops the run as ``run`` says."""
    for error in prepared.filter(lambda x: isinstance(x, CorpusFileError)).collect():
        run.skip_or_raise(error)
    docs = _keep(prepared.filter(lambda x: not isinstance(x, CorpusFileError)).zipWithIndex())
    if docs.isEmpty():
        raise no_readable_documents(corpus)
    # per paragraph: position, doc id, its row, the document's path and date (seconds)
    paras = _keep(
        docs.flatMap(lambda d: ((d[1] + 1, row, d[0].doc.path, epoch(d[0].doc.date)) for row in d[0].rows()))
        .zipWithIndex()
        .map(lambda x: (x[1],) + x[0])
    )
    return docs, paras, paras.count()


def _numbered_keys(paras, policy: str):
    """Distinct keys numbered by first appearance, as the local engine numbers them."""
    # per fingerprint: first position, best rank under the policy, key length, key, count
    def facts(p):
        pos, _, row, _, epoch = p
        return row[7], (pos, rank_key(policy, pos, row[5], epoch), row[5], row[8], 1)

    def merge(x, y):
        first = x if x[0] < y[0] else y
        return (first[0], min(x[1], y[1]), first[2], first[3], x[4] + y[4])

    merged = paras.filter(lambda p: p[2][7] is not None).map(facts).reduceByKey(merge)
    # key ids by first appearance, as the local engine gives them: (kid, fp, key, len, count, best rank)
    keys = merged.sortBy(lambda kv: kv[1][0]).zipWithIndex().map(
        lambda x: (x[1], x[0][0], x[0][1][3].decode("utf-8"), x[0][1][2], x[0][1][4], x[0][1][1])
    )
    return _keep(keys)


def _sign_stage(keys, config: ScanConfig, min_len: int, b: int, r: int):
    """(signatures, how many): band hashes and anchors of the keys long enough to sign."""
    signed = keys.filter(lambda k: k[3] >= min_len).map(lambda k: (k[0], k[2]))
    out = _keep(signed.mapPartitions(functools.partial(_sign_partition, config=config, b=b, r=r)))
    return out, out.count()


def _candidates_stage(signatures, config: ScanConfig):
    """(candidate pairs, how many, how many the bands alone gave): band buckets, and shared anchors when containment is on."""
    lsh = (
        signatures.flatMap(lambda s: (((j, int(h)), s[0]) for j, h in enumerate(s[2].tolist())))
        .groupByKey()
        .flatMap(lambda g: _window_pairs(g[1]))
        .distinct()
    )
    lsh = _keep(lsh)
    pairs = lsh
    if config.containment > 0:
        per_key = signatures.map(lambda s: (s[0], len(s[3])))
        shared = (
            signatures.flatMap(lambda s: ((int(v), s[0]) for v in s[3].tolist()))
            .groupByKey()
            .flatMap(lambda g: ((p, 1) for p in _window_pairs(g[1], ANCHOR_MAX_BUCKET)))
            .reduceByKey(operator.add)
        )
        anchored = (
            shared.map(lambda x: (x[0][0], (x[0][1], x[1])))
            .join(per_key)
            .map(lambda x: (x[1][0][0], (x[0], x[1][0][1], x[1][1])))
            .join(per_key)
            .filter(lambda x: x[1][0][1] >= ANCHOR_MIN_SHARE * min(x[1][0][2], x[1][1]))
            .map(lambda x: (x[1][0][0], x[0]))
        )
        pairs = lsh.union(anchored).distinct()
    pairs = _keep(pairs)
    return pairs, pairs.count(), lsh.count()


def _verify_stage(pairs, texts, config: ScanConfig):
    """(every scored pair, the edges among them, how many edges): exact scores on the shingle sets."""
    joined = (
        pairs.join(texts)
        .map(lambda x: (x[1][0], (x[0], x[1][1])))
        .join(texts)
        .map(lambda x: ((x[1][0][0], x[0]), (x[1][0][1], x[1][1])))
    )
    checked = _keep(joined.mapPartitions(functools.partial(_verify_partition, config=config)))
    edges = _keep(checked.filter(lambda c: c[4]).map(lambda c: (c[0], c[1], c[2])))
    return checked, edges, edges.count()


def _joined_partition(triples: Iterator[tuple], config: ScanConfig) -> Iterator[tuple]:
    """(a, b, Jaccard) of the pairs the joined rule accepts (match/joined.py), from triples
    ((first, second, other), (their (text, has an edge))), a batch at a time."""
    rule = config.match_rule()
    batch = list(triples)
    for s in range(0, len(batch), VERIFY_BATCH):
        part = batch[s : s + VERIFY_BATCH]
        index: dict[int, int] = {}
        texts: list[str] = []
        matched: list[bool] = []
        for kids, facts in part:
            for k, (t, m) in zip(kids, facts):
                if k not in index:
                    index[k] = len(texts)
                    texts.append(t)
                    matched.append(bool(m))
        sets = _shingle_sets(texts, config)
        local = np.array([[index[k] for k in kids] for kids, _ in part], dtype=np.int64).reshape(-1, 3)
        kid_of = np.array(list(index), dtype=np.int64)
        accepted, jac, _ = judge_joined(rule, lambda a, b: score_pairs(sets, a, b), sets.sizes, local, np.array(matched, dtype=bool))
        for (a, b), j in zip(kid_of[accepted].tolist(), jac.tolist()):
            yield (min(a, b), max(a, b)), j


def _joined_stage(paras, keys, texts, checked, edges, config: ScanConfig, min_len: int):
    """(edges with those of the halves of broken lines judged together, how many): the
    neighbour pairs, their triples and the joined rule of match/joined.py, as the local engine
    runs them on its arrays."""
    if config.containment <= 0:
        return edges, edges.count()
    fp_kid = keys.filter(lambda k: k[3] >= min_len).map(lambda k: (k[1], k[0]))
    node = paras.map(lambda p: (p[2][7], (p[0], p[1]))).filter(lambda x: x[0] is not None).join(fp_kid).map(lambda x: (x[1][0][0], (x[1][0][1], x[1][1])))
    neighbours = (
        node.join(node.map(lambda x: (x[0] - 1, x[1])))  # a paragraph and the next one
        .filter(lambda x: x[1][0][0] == x[1][1][0] and x[1][0][1] != x[1][1][1])
        .map(lambda x: (x[1][0][1], x[1][1][1]))
        .distinct()
    )
    sizes = texts.mapValues(lambda t: int(_shingle_sets([t], config).sizes[0]))
    scored = checked.map(lambda c: (c[0], (c[1], c[3]))).join(sizes).map(lambda x: (x[1][0][0], (x[0], x[1][0][1], x[1][1]))).join(sizes)
    # (half, partner) when the half holds JOINED_HALF_SHARE of itself in the partner
    share = scored.flatMap(lambda x: [
        (half, other) for half, other, own, other_size in ((x[1][0][0], x[0], x[1][0][2], x[1][1]), (x[0], x[1][0][0], x[1][1], x[1][0][2]))
        if x[1][0][1] * min(own, other_size) / max(own, 1) >= JOINED_HALF_SHARE - 1e-12
    ])
    triples = (
        neighbours.join(share).map(lambda x: (x[0], x[1][0], x[1][1]))
        .union(neighbours.map(lambda n: (n[1], n[0])).join(share).map(lambda x: (x[1][0], x[0], x[1][1])))
        .filter(lambda t: t[2] != t[0] and t[2] != t[1])
        .distinct()
    )
    # a half with an edge of its own gets no joined pair (judge_joined)
    facts = texts.leftOuterJoin(edges.flatMap(lambda e: ((e[0], True), (e[1], True))).distinct())
    with_texts = (
        triples.map(lambda t: (t[0], t)).join(facts).map(lambda x: (x[1][0][1], (x[1][0], x[1][1])))
        .join(facts).map(lambda x: (x[1][0][0][2], (x[1][0][0], x[1][0][1], x[1][1])))
        .join(facts).map(lambda x: (x[1][0][0], (x[1][0][1], x[1][0][2], x[1][1])))
    )
    joined = with_texts.mapPartitions(functools.partial(_joined_partition, config=config)).reduceByKey(lambda x, y: x)
    merged = _keep(edges.map(lambda e: ((e[0], e[1]), e[2])).union(joined).reduceByKey(lambda x, y: x).map(lambda x: (x[0][0], x[0][1], x[1])))
    edges.unpersist()
    return merged, merged.count()


def _components_stage(edges):
    """(component label of every key in an edge, how many)."""
    labels = _keep(connected_components(edges.map(lambda e: (e[0], e[1]))))
    return labels, labels.count()


def _cluster_stage(keys, labels, edges, config: ScanConfig):
    """(clustered keys, how many): each component clustered as the local engine clusters."""
    node_info = keys.map(lambda k: (k[0], (k[2], k[5])))
    nodes = labels.join(node_info).map(lambda x: (x[1][0], (x[0], x[1][1][0], x[1][1][1])))
    by_root = edges.map(lambda e: (e[0], (e[1], e[2]))).join(labels).map(lambda x: (x[1][1], (x[0], x[1][0][0], x[1][0][1])))
    out = _keep(nodes.cogroup(by_root).flatMap(functools.partial(_cluster_component, config=config)))
    return out, out.count()


def _expand_stage(sc, docs, keys, paras, clustered, config: ScanConfig, policy: str):
    """(key of every paragraph, described clusters, boilerplate clusters, clusters): key clusters expanded to paragraphs, canonicals and reasons."""
    # per key in a cluster: (canonical key, Jaccard, containment, is a fragment)
    near = clustered.filter(lambda c: c[1] >= 0).map(lambda c: (c[0], (c[1], c[2], c[3], c[4])))
    exact_only = keys.filter(lambda k: k[4] >= 2).map(lambda k: (k[0], (k[0], 1.0, 1.0, False))).subtractByKey(near)
    fragment_of = clustered.map(lambda c: (c[0], c[4]))
    exact_only = exact_only.leftOuterJoin(fragment_of).map(lambda x: (x[0], x[1][0][:3] + (bool(x[1][1]),)))
    best = keys.map(lambda k: (k[0], k[5][-1]))  # the key's best paragraph (its position)
    key_canon = (
        near.union(exact_only)
        .map(lambda x: (x[1][0], (x[0],) + x[1][1:]))
        .join(best)
        .map(lambda x: (x[1][0][0], (x[1][1],) + x[1][0][1:]))  # kid -> (canonical position, sim, con, fragment)
    )
    fp_kid = keys.map(lambda k: (k[1], k[0]))
    para_kid = paras.filter(lambda p: p[2][7] is not None).map(lambda p: (p[2][7], p[0])).join(fp_kid).map(lambda x: (x[1][0], x[1][1]))
    para_kid = _keep(para_kid)  # (position, key id)
    members = (
        paras.filter(lambda p: p[2][7] is not None)
        .map(lambda p: (p[0], p))
        .join(para_kid)
        .map(lambda x: (x[1][1], x[1][0]))
        .join(key_canon)
        .map(lambda x: _member(x, policy))
        .groupByKey()
        .sortByKey()
        .zipWithIndex()
    )
    members = _keep(members)
    # boilerplate: decided per cluster from its members, their documents and the number of
    # documents of each site, so partitions of whole clusters decide as the local engine does
    sizes = sc.broadcast(dict(docs.flatMap(lambda d: site_keys(d[0].doc.path)).countByValue()))
    doc_facts = docs.map(lambda d: (d[1] + 1, _document_facts(d[0])))
    furniture = sc.broadcast(set(
        members.flatMap(lambda x: ((doc, (x[1] + 1, idx, m.chars)) for m, doc, idx in x[0][1]))
        .join(doc_facts)
        .map(lambda x: (x[1][0][0], (x[0], *x[1][0][1:], *x[1][1])))
        .groupByKey()
        .mapPartitions(functools.partial(_furniture_partition, sizes=sizes))
        .collect()
    ))
    described = _keep(members.map(functools.partial(_describe, config=config, furniture=furniture)))
    return para_kid, described, len(furniture.value), described.count()


def _store_stage(spark, out: str, corpus: str, files: list[Path], run: Run, config: ScanConfig, docs, paras, keys, signatures, checked, para_kid, described, figures: dict):
    """Write every table of the scan as Parquet below ``out``; return the run's counts
    (``figures``: the counts the stages before already know)."""
    sc = spark.sparkContext
    member_rows = described.flatMap(lambda d: d[1])
    cluster_of = member_rows.map(lambda m: (m[0] - 1, m[1]))
    paragraph_rows = (
        paras.map(lambda p: (p[0], p)).leftOuterJoin(para_kid).leftOuterJoin(cluster_of)
        .map(lambda x: _paragraph_row(x[1][0][0], x[1][0][1], x[1][1]))
    )
    document_rows = docs.map(lambda d: document_row(d[1] + 1, d[0].doc, list(d[0].rows())))
    signed_by_id = signatures.map(lambda s: (s[0], (s[1], s[2].astype("<u4").tobytes(), s[3].astype("<u4").tobytes())))
    key_rows = keys.map(lambda k: (k[0], k)).leftOuterJoin(signed_by_id).map(
        lambda x: (x[0] + 1, x[1][0][1], x[1][0][3], *(x[1][1] or (None, None, None)))
    )
    checked_rows = checked.map(lambda c: (min(c[0], c[1]) + 1, max(c[0], c[1]) + 1, c[2], c[3], 1))  # all live: candidates of this run
    duplicates = described.map(lambda d: (d[2], d[3])).fold((0, 0), lambda x, y: (x[0] + y[0], x[1] + y[1]))
    chars = paras.map(lambda p: len(p[2][6])).sum()
    counts = dict(  # checked to be a run's by Run.execute, passages with them
        **figures, documents=docs.count(), duplicate_paragraphs=duplicates[0], chars=int(chars), duplicate_chars=duplicates[1],
        empty_paragraphs=figures["paragraphs"] - para_kid.count(), distinct_keys=keys.count(), files=len(files),
        skipped=len(run.skipped), bytes=sum(f.stat().st_size for f in files if f.exists()),
    )
    known = dict(
        docs.filter(lambda d: d[0].doc.record is None)
        .map(lambda d: (d[0].doc.source or d[0].doc.path, (d[0].doc.sha1, d[0].doc.size)))
        .collect()
    )
    # aligned on the driver by the local engine's function: linear in the members
    furniture = sc.broadcast(set(described.filter(lambda d: d[0][5]).map(lambda d: d[0][0]).collect()))
    content = member_rows.filter(lambda m: m[1] not in furniture.value)  # as passages.stored_members
    facts = content.map(lambda m: (m[0] - 1, m)).join(paras.map(lambda p: (p[0], _passage_facts(p))))
    passage_rows = find_passages(facts.map(lambda x: PassageMember(*x[1][1], *_passage_of(x[1][0]))).collect())
    counts["passages"] = len(passage_rows)
    tables = {
        "passages": sc.parallelize(passage_rows, 1),
        "documents": document_rows,
        "paragraphs": paragraph_rows,
        "clusters": described.map(lambda d: d[0]),
        "members": member_rows,
        "keys": key_rows,
        "checked": checked_rows,
        "files": sc.parallelize(list(file_rows(files, Path(os.path.abspath(corpus)), known)), 1),
    }
    for name, rows in tables.items():
        _write_table(spark, out, name, rows)
    return counts


def _member(x, policy: str) -> tuple:
    """(canonical position, (ClusterMember, doc id, its position in the document)) of one
    paragraph of a cluster."""
    kid, (p, (canon_pos, sim, con, fragment)) = x
    pos, doc_id, row, path, epoch = p
    facts = MemberFacts(row[5], path, row[1], epoch)
    member = ClusterMember(pos + 1, kid, sim, con, facts, len(row[6]), fragment, rank_key(policy, pos, row[5], epoch))
    return canon_pos, (member, doc_id, row[0])


def _document_facts(prepared) -> tuple[int, int, tuple[str, ...]]:
    """(paragraphs, characters, site keys) of a prepared document, as the boilerplate rule reads them."""
    rows = list(prepared.rows())
    return len(rows), sum(len(r[6]) for r in rows), site_keys(prepared.doc.path)


def _passage_facts(p) -> tuple:
    """(doc id, path, idx, line start, line end, characters) of a paragraph, as passages need it."""
    pos, doc_id, row, path, _ = p
    return doc_id, path, row[0], row[1], row[2], row[4] - row[3]


def _passage_of(member_row) -> tuple:
    """(cluster id, is the canonical, similarity) of a members row."""
    return member_row[1], member_row[3] == "canonical", member_row[2]


def _paragraph_row(p, kid, cluster_id) -> tuple:
    """The paragraphs row (columns of store/writer.py) of one paragraph."""
    pos, doc_id, row, _, _ = p
    idx, line_start, line_end, char_start, char_end, key_len, text, fp, _ = row
    return (pos + 1, doc_id, idx, line_start, line_end, char_start, char_end, text, key_len, fp, cluster_id,
            None if kid is None else kid + 1)


_SPARK_TYPES = {int: "LongType", str: "StringType", float: "DoubleType", bytes: "BinaryType"}


def _schema(table: str):
    from pyspark.sql import types as T

    return T.StructType([T.StructField(name, getattr(T, _SPARK_TYPES[kind])(), True) for name, kind in table_columns(table).items()])


def _write_table(spark, out: str, table: str, rows) -> None:
    spark.createDataFrame(rows, _schema(table)).write.mode("overwrite").parquet(f"{out.rstrip('/')}/{table}")


def _check_out(out: str) -> None:
    """Refuse a local --out that holds anything but an earlier Spark result."""
    if "://" in out:
        return
    path = Path(out)
    if path.is_file():
        raise DatabaseError(f"{out}: is a file; pass a folder path to --out")
    if path.is_dir() and any(path.iterdir()) and not (path / "runs").is_dir():
        raise DatabaseError(f"{out}: exists and is not the output of a Spark scan; choose another --out folder")
