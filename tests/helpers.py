"""What the tests share: the seed files, corpora written to tmp_path, planted clusters, db readers.

Everything a test asserts about clusters is computed here independently of the library's
matching code: keys come from ``dedup.text.normalize.normalize`` (the definition of a key), and
similarity is the exact Jaccard index of the keys' character n-gram sets, recomputed in Python
with the scan's per-key rule for n (3 for a key mostly in a dense script, 5 otherwise).
Thresholds are the library's defaults, imported, never copied: tests follow the defaults.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from dedup.config import ALPHABETIC_SHINGLE, DENSE_SHINGLE, LONG_CONTAINED_SHINGLES, LONG_CONTAINMENT_SLACK, MIN_CONTAINED_SHINGLES, ScanConfig
from dedup.text.normalize import normalize
from dedup.match.signatures import is_dense

ROOT = Path(__file__).resolve().parent.parent  # the repository
SEEDS = ROOT / "data" / "seeds"
# The default scan: a near copy has Jaccard >= THRESHOLD to its canonical.
THRESHOLD = ScanConfig().threshold
# A partial copy (relation "contained"): at least this share of the smaller key's shingles inside
# the canonical's, the smaller key with at least MIN_CONTAINED shingles and at most CONTAINMENT
# times as many as the larger (see dedup.match.verify.MatchRule); a smaller key of LONG_CONTAINED
# shingles or more needs LONG_CONTAINMENT_SLACK less.
CONTAINMENT = ScanConfig().containment
MIN_CONTAINED = MIN_CONTAINED_SHINGLES
LONG_CONTAINED = LONG_CONTAINED_SHINGLES


# -- scanned seed corpora ------------------------------------------------------------------------


def derandomized(examples: int, *also_suppress: HealthCheck) -> settings:
    """Hypothesis settings of the fuzz and property tests: derandomized (the same examples on
    every run of a tree), no deadline, no example database, no complaint about slow or large
    examples (or about ``also_suppress``)."""
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example, *also_suppress],
    )


def scanned_seeds(tmp_path: Path, seeds: list[Path], config: ScanConfig = ScanConfig(workers=1)) -> tuple[Path, Path]:
    """A corpus folder of copies of these seed files, scanned: (corpus, db)."""
    import shutil

    from dedup.pipeline import scan

    corpus = tmp_path / "c"
    corpus.mkdir()
    for seed in seeds:
        shutil.copy(seed, corpus)
    db = tmp_path / "s.db"
    scan(corpus, config, db)
    return corpus, db


def copies_by_scan(corpus: Path, text: str, tmp_path: Path, name: str = "zzz.txt") -> dict[int, str]:
    """What a full scan says of ``text`` added to the corpus as the file ``name``: for every
    copy paragraph, its line -> "relation document:line" of its canonical."""
    from dedup.pipeline import scan

    added = corpus / name
    added.write_text(text, encoding="utf-8")
    db = tmp_path / f"truth-{random.random()}.db"
    try:
        scan(corpus, ScanConfig(workers=1), db, full=True)
    finally:
        added.unlink()
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute(
            """SELECT p.line_start, m.relation || ' ' || cd.path || ':' || cp.line_start FROM paragraphs p
               JOIN documents d ON d.id = p.doc_id JOIN members m ON m.paragraph_id = p.id
               JOIN clusters c ON c.id = m.cluster_id JOIN paragraphs cp ON cp.id = c.canonical_id
               JOIN documents cd ON cd.id = cp.doc_id WHERE d.path = ? AND m.relation != 'canonical'""",
            (name,),
        ))
    finally:
        conn.close()


# -- keys and similarity, recomputed without the library's shingling ----------------------------


def key(text: str) -> str:
    return normalize(text)


def shingles(k: str, size: int | None = None) -> set[str]:
    """Character n-grams of a key; a key shorter than n is one shingle (as the library does).

    The default n is the scan's default: 3 for a key mostly in a dense script, else 5.
    """
    if size is None:
        size = DENSE_SHINGLE if is_dense(k) else ALPHABETIC_SHINGLE
    if len(k) < size:
        return {k} if k else set()
    return {k[i : i + size] for i in range(len(k) - size + 1)}


def jaccard(a: str, b: str) -> float:
    """Exact Jaccard similarity of the shingle sets of two *texts* (normalized here)."""
    sa, sb = shingles(key(a)), shingles(key(b))
    union = sa | sb
    return len(sa & sb) / len(union) if union else 1.0


def containment(a: str, b: str) -> tuple[float, int, int]:
    """(share of the smaller shingle set inside the other, size of the smaller set, of the larger)."""
    sa, sb = shingles(key(a)), shingles(key(b))
    smaller, larger = sorted((len(sa), len(sb)))
    return (len(sa & sb) / smaller if smaller else 1.0), smaller, larger


def is_partial_copy(a: str, b: str, share: float = CONTAINMENT, min_shingles: int = MIN_CONTAINED) -> bool:
    """The scan's rule for a partial copy, recomputed: most of the smaller key's shingles inside
    the other (0.1 less of a long one), the smaller key not a stock phrase, and really smaller
    (else Jaccard decides)."""
    got, smaller, larger = containment(a, b)
    if smaller >= LONG_CONTAINED and share > LONG_CONTAINMENT_SLACK:
        share = share - LONG_CONTAINMENT_SLACK
    return (
        share > 0
        and got >= share - 1e-9
        and smaller >= min_shingles
        and smaller <= share * larger + 1e-9
    )


# -- random Chinese-like text -------------------------------------------------------------------


def _alphabet() -> list[str]:
    """A few thousand CJK ideographs that normalize to themselves (no t2s fold, no placeholder)."""
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 4000)]
    return [c for c in chars if normalize(c) == c]


ALPHABET = _alphabet()
LATIN_WORDS = (
    "the quick brown fox jumps over lazy dog river mountain paper letter window garden "
    "morning evening simple strong bright silent orange purple yellow number people "
    "market bridge engine forest island harbor signal pocket rabbit silver winter"
).split()  # no lone "x" anywhere: a lone x is a placeholder and folds


def noise(rng: random.Random, lo: int = 60, hi: int = 300) -> str:
    """One paragraph of random ideographs, unrelated to every other one."""
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(lo, hi)))


def substitute(rng: random.Random, text: str, positions: list[int]) -> str:
    """``text`` with the characters at ``positions`` replaced by different random ideographs."""
    chars = list(text)
    for p in positions:
        chars[p] = rng.choice([c for c in rng.sample(ALPHABET, 4) if c != chars[p]])
    return "".join(chars)


def spread(rng: random.Random, lo: int, hi: int, n: int, gap: int = 7) -> list[int]:
    """n positions in [lo, hi) at least ``gap`` apart (so each edit breaks its own shingles:
    ``gap`` >= n of the n-grams, 3 for ideographs and 5 for Latin keys, see ``shingles``)."""
    while True:
        picks = sorted(rng.sample(range(lo, hi), n))
        if all(b - a >= gap for a, b in zip(picks, picks[1:])):
            return picks


# -- corpora on disk ----------------------------------------------------------------------------


def write_corpus(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``{relpath: text or bytes}`` below ``root`` (text as UTF-8); return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return root


DEBIAN_DOC = Path("/usr/share/doc")
# Packages of every Debian system (essential or required), whose copyright files share licence text
DEBIAN_PACKAGES = ("base-files", "bash", "coreutils", "diffutils", "dpkg", "findutils", "grep", "gzip", "sed", "tar")


def debian_copyrights(root: Path, packages: tuple[str, ...] = DEBIAN_PACKAGES) -> dict[str, bytes]:
    """Copy ``/usr/share/doc/PACKAGE/copyright`` (a file without a suffix) of these packages to
    ``root/PACKAGE/copyright``; return {relative path: bytes}. Skips the test where they are missing."""
    found = {p: DEBIAN_DOC / p / "copyright" for p in packages if (DEBIAN_DOC / p / "copyright").is_file()}
    if len(found) < len(packages):
        pytest.skip(f"not a Debian system: no {DEBIAN_DOC}/{sorted(set(packages) - set(found))[0]}/copyright")
    files = {f"{p}/copyright": path.read_bytes() for p, path in found.items()}
    write_corpus(root, files)
    return files


# -- a corpus with planted clusters --------------------------------------------------------------


@dataclass
class Planted:
    """Files of random text with known copies planted in them.

    ``groups`` maps a group name to the (path, line) of every member; ``canonical`` to the
    (path, line) the ``longest`` policy must choose, where that choice does not hang on a tie
    (near groups). The default policy, ``first``, chooses ``min(groups[g])`` for every group.
    """

    files: dict[str, str]
    groups: dict[str, list[tuple[str, int]]]
    kinds: dict[str, str]  # group -> "exact" | "near" | "latin"
    originals: dict[str, str]  # group -> the text every copy was made from
    canonical: dict[str, tuple[str, int]] = field(default_factory=dict)

    def expected_clusters(self) -> set[frozenset]:
        return {frozenset(members) for members in self.groups.values()}

    def renamed(self, mapping: dict[str, str]) -> "Planted":
        move = lambda loc: (mapping[loc[0]], loc[1])  # noqa: E731
        return Planted(
            {mapping[p]: t for p, t in self.files.items()},
            {g: [move(m) for m in ms] for g, ms in self.groups.items()},
            dict(self.kinds),
            dict(self.originals),
            {g: move(c) for g, c in self.canonical.items()},
        )


def _latin_sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(LATIN_WORDS) for _ in range(rng.randint(10, 16)))


def _latin_variant(rng: random.Random, sentence: str, style: int) -> str:
    """The same words with other case, punctuation and spacing: the key stays the same."""
    words = sentence.split()
    if style == 0:
        return sentence[0].upper() + sentence[1:] + "."
    if style == 1:
        return "  ".join(w.upper() if i % 3 == 0 else w for i, w in enumerate(words)) + "!!"
    if style == 2:
        return ", ".join(words[:4]) + "; " + " - ".join(words[4:]) + "?"
    return "\u201c" + " ".join(w.capitalize() for w in words) + "\u201d\uff01"  # full-width "!"


def build_planted(seed: int = 7, n_files: int = 6, lines_per_file: int = 14, latin: bool = True) -> Planted:
    """Random unrelated paragraphs plus planted exact, near (edited) and Latin (punctuation) copies.

    Near copies carry ~1 substitution per 100 characters plus a short deletion of a different
    length each, so the original is the unique longest member of its group.
    """
    rng = random.Random(seed)
    names = [f"doc_{i:02d}.txt" for i in range(n_files)]
    slots: dict[str, list[tuple[str | None, str]]] = {n: [(None, noise(rng)) for _ in range(lines_per_file)] for n in names}
    plants: list[tuple[str, str, str, bool]] = []  # (group, text, kind, is_original)
    kinds: dict[str, str] = {}
    originals: dict[str, str] = {}

    for g in range(3):  # exact copies: identical text in 2-4 places
        name = f"exact{g}"
        text = noise(rng, 80, 300)
        kinds[name], originals[name] = "exact", text
        plants += [(name, text, "exact", i == 0) for i in range(2 + g)]

    for g in range(3):  # near copies
        name = f"near{g}"
        text = noise(rng, 150, 300)
        kinds[name], originals[name] = "near", text
        plants.append((name, text, "near", True))
        for i in range(2 + g):
            n_sub = max(1, len(text) // 100)
            edited = substitute(rng, text, spread(rng, 0, len(text) - 10, n_sub))
            cut = rng.randrange(10, len(edited) - 10)
            edited = edited[:cut] + edited[cut + i + 1 :]  # i+1 characters gone: distinct lengths
            assert jaccard(text, edited) >= max(0.85, THRESHOLD + 0.15), (
                "construction: a near copy must be well above the threshold"
            )
            plants.append((name, edited, "near", False))

    if latin:
        for g in range(2):
            name = f"latin{g}"
            sentence = _latin_sentence(rng)
            kinds[name], originals[name] = "latin", sentence
            variants = [_latin_variant(rng, sentence, s) for s in range(4)]
            assert len(set(variants)) == 4 and len({key(v) for v in variants}) == 1
            plants += [(name, v, "latin", s == 0) for s, v in enumerate(variants)]

    for group, text, kind, is_original in plants:
        target = slots[rng.choice(names)]
        target.insert(rng.randrange(len(target) + 1), (group, text))

    files = {n: "\n".join(t for _, t in rows) + "\n" for n, rows in slots.items()}
    groups: dict[str, list[tuple[str, int]]] = {g: [] for g in kinds}
    canonical: dict[str, tuple[str, int]] = {}
    for n, rows in slots.items():
        for line, (group, text) in enumerate(rows, start=1):
            if group is not None:
                groups[group].append((n, line))
                if kinds[group] == "near" and text == originals[group]:
                    canonical[group] = (n, line)
    return Planted(files, groups, kinds, originals, canonical)


# -- reading a scan's database ------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    paragraph_id: int
    path: str
    line: int
    text: str
    relation: str
    similarity: float
    containment: float | None = None  # stored only by versions that find partial copies


@dataclass(frozen=True)
class Cluster:
    id: int
    canonical: Member
    members: tuple[Member, ...]
    size: int
    n_documents: int
    reason: str

    @property
    def locations(self) -> frozenset:
        return frozenset((m.path, m.line) for m in self.members)


def read_clusters(db_path: Path) -> list[Cluster]:
    """Every cluster of the database at ``db_path``, with its members, read with plain sqlite3."""
    conn = sqlite3.connect(db_path)
    try:
        member_columns = {row[1] for row in conn.execute("PRAGMA table_info(members)")}
        con = "m.containment" if "containment" in member_columns else "NULL"
        rows = conn.execute(
            f"""SELECT m.cluster_id, p.id, d.path, p.line_start, p.text, m.relation, m.similarity, {con}
               FROM members m JOIN paragraphs p ON p.id = m.paragraph_id JOIN documents d ON d.id = p.doc_id
               ORDER BY m.cluster_id, p.id"""
        ).fetchall()
        by_cluster: dict[int, list[Member]] = {}
        for cid, *rest in rows:
            by_cluster.setdefault(cid, []).append(Member(*rest))
        clusters = []
        for cid, canonical_id, size, n_documents, reason in conn.execute(
            "SELECT id, canonical_id, size, n_documents, reason FROM clusters ORDER BY id"
        ):
            members = tuple(by_cluster.get(cid, ()))
            canon = [m for m in members if m.paragraph_id == canonical_id]
            assert len(canon) == 1, f"cluster {cid}: canonical {canonical_id} is not one of its members"
            clusters.append(Cluster(cid, canon[0], members, size, n_documents, reason))
        return clusters
    finally:
        conn.close()


def query(db_path: Path, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def assert_no_drift(clusters: list[Cluster], threshold: float = THRESHOLD) -> None:
    """Every member is a verified copy of its own cluster's canonical, never of a third paragraph.

    Recomputed here from the stored texts: one canonical per cluster; an ``exact`` member has the
    canonical's key; a ``near`` member has shingle Jaccard >= threshold to the canonical; a
    ``contained`` member (a partial copy) is below the threshold and satisfies the partial-copy
    rule (``is_partial_copy``). The stored similarity is that Jaccard (and the stored
    containment, if any, that share). ``threshold`` must be the scan's (default: the default's).
    """
    for c in clusters:
        assert [m.relation for m in c.members].count("canonical") == 1, c
        assert c.canonical.relation == "canonical" and c.canonical.similarity == 1.0
        ckey = key(c.canonical.text)
        for m in c.members:
            if m.relation == "canonical":
                continue
            where = f"cluster {c.id}: {m.path}:{m.line} ({m.relation})"
            if key(m.text) == ckey:
                assert m.relation == "exact" and m.similarity == 1.0, where
                continue
            j = jaccard(m.text, c.canonical.text)
            share, smaller, larger = containment(m.text, c.canonical.text)
            assert m.similarity == pytest.approx(j, abs=1e-6), f"{where}: stored {m.similarity}, exact {j}"
            if m.containment is not None:
                assert m.containment == pytest.approx(share, abs=1e-6), where
            if m.relation == "near":
                assert threshold - 1e-9 <= j < 1.0, f"{where}: J={j:.3f} to its canonical"
            else:
                assert m.relation == "contained", where
                assert CONTAINMENT > 0, f"{where}: partial copies are off"
                assert j < threshold, f"{where}: J={j:.3f} is a near copy, not a partial one"
                assert is_partial_copy(m.text, c.canonical.text), (
                    f"{where}: {share:.3f} of {smaller} shingles (the other key has {larger}) "
                    f"shared with its canonical"
                )


# -- as an unprivileged user ---------------------------------------------------------------------


def as_nobody(run) -> dict:
    """``run()`` (returning a JSON-able dict) as the user 'nobody' in a forked child when this
    process is root, whom no file mode stops (CI runs as root); in this process otherwise."""
    if os.geteuid() != 0:
        return run()
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe and exits
        try:
            os.setgid(65534)
            os.setuid(65534)
            report = run()
        except BaseException as error:
            report = {"crash": "".join(traceback.format_exception(error))}
        os.write(writer, json.dumps(report).encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        report = json.loads(pipe.read())
    os.waitpid(child, 0)
    assert "crash" not in report, report["crash"]
    return report


# -- fuzzing: how many inputs were tried ---------------------------------------------------------

FUZZ_COUNTS: dict[str, int] = {}
ARTIFACTS = ROOT / "test-artifacts"


def count_inputs(kind: str, n: int = 1) -> None:
    """Count ``n`` fuzz inputs of ``kind`` (written to test-artifacts/fuzz-counts.json at the end)."""
    FUZZ_COUNTS[kind] = FUZZ_COUNTS.get(kind, 0) + n


# -- moved from the tests that first needed them ----------------------------------------------


def assert_clean(result) -> None:
    """No Python exception escaped: click exited on purpose, and nothing looks like a traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr


def assert_error(result, code: int, *fragments: str) -> str:
    """Exit ``code`` with exactly one ``Error: ...`` line on stderr containing every fragment;
    with exit 1 that line is all of stderr, apart from warnings about skipped files."""
    assert_clean(result)
    assert result.exit_code == code, (result.exit_code, result.output)
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    if code == 1:
        rest = [l for l in result.stderr.splitlines() if l and not l.startswith(("Error:", "warning:"))]
        assert rest == [], result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def unmark(text: str) -> str:
    """``dedup show``'s diff lines as the copies' text: inserted text kept, deleted text dropped."""
    return re.sub(r"\{\+(.*?)\+\}", r"\1", re.sub(r"\[-.*?-\]", "", text, flags=re.S), flags=re.S)


TOKEN = "s3cret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, db: Path, token: str | None = TOKEN, max_body: int | None = None):
        self.port = free_port()
        args = [sys.executable, "-m", "dedup", "serve", str(db), "--port", str(self.port)]
        args += ["--token", token] if token else []
        args += ["--max-body", str(max_body)] if max_body else []
        env = {"PATH": "/usr/bin:/bin", "HOME": str(db.parent)}
        # its output goes to a file: a pipe nobody reads while the server runs fills at 64 KB
        # (uvicorn logs every request) and blocks the server in the middle of a request
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start: {self.output()}")

    def request(self, method: str, path: str, body=None, token: str | None = None, raw: bytes | None = None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body, token=TOKEN):
        return self.request("POST", path, body, token)

    def output(self) -> str:
        """What the server printed so far (stdout and stderr)."""
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def scan_result(db: Path) -> set[tuple]:
    """Every member as (document, line, relation, similarity, containment, canonical document,
    line, cluster size, documents, boilerplate, reason), every passage, plus the counts a summary reports: what
    an update must leave exactly as a full scan of the same corpus does."""
    conn = sqlite3.connect(db)
    try:
        members = set(
            conn.execute(
                """SELECT d.path, p.line_start, m.relation, round(m.similarity, 6), round(m.containment, 6), cd.path,
                          cp.line_start, c.size, c.n_documents, c.boilerplate, c.reason
                   FROM members m JOIN paragraphs p ON p.id = m.paragraph_id JOIN documents d ON d.id = p.doc_id
                   JOIN clusters c ON c.id = m.cluster_id JOIN paragraphs cp ON cp.id = c.canonical_id
                   JOIN documents cd ON cd.id = cp.doc_id"""
            )
        )
        # every paragraph row points at its cluster (or at none), as members say
        assert conn.execute(
            "SELECT count(*) FROM paragraphs p LEFT JOIN members m ON m.paragraph_id = p.id WHERE p.cluster_id IS NOT m.cluster_id"
        ).fetchone() == (0,)
        # passages by their documents' paths (document ids differ after an update)
        passages = set(
            conn.execute(
                """SELECT 'passage', sd.path, ps.source_line_start, ps.source_line_end, cd.path, ps.copy_line_start,
                          ps.copy_line_end, ps.paragraphs, ps.characters, ps.similarity
                   FROM passages ps JOIN documents sd ON sd.id = ps.source_doc_id JOIN documents cd ON cd.id = ps.copy_doc_id"""
            )
        )
        counts = json.loads(conn.execute("SELECT counts FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0])
        reported = {k: counts[k] for k in SUMMARY_COUNTS}
        return members | passages | {("counts", tuple(sorted(reported.items())))}
    finally:
        conn.close()


SUMMARY_COUNTS = (
    "documents", "paragraphs", "empty_paragraphs", "distinct_keys", "signed_keys", "clusters", "boilerplate_clusters",
    "passages", "duplicate_paragraphs", "chars", "duplicate_chars", "candidate_pairs", "lsh_pairs", "verified_edges",
)


# Every table a scan writes, as rows in a fixed order (engines compared table by table: the
# Spark engine's against the local engine's). runs differs by design (times).
SCAN_TABLES = {
    "documents": "SELECT * FROM documents ORDER BY id",
    "paragraphs": "SELECT * FROM paragraphs ORDER BY id",
    "clusters": "SELECT * FROM clusters ORDER BY id",
    "members": "SELECT * FROM members ORDER BY paragraph_id",
    "passages": "SELECT * FROM passages ORDER BY id",
    "keys": "SELECT * FROM keys ORDER BY id",
    "checked": "SELECT * FROM checked ORDER BY a, b",
    "files": "SELECT * FROM files ORDER BY source",
}


def scan_tables(db: Path, only=SCAN_TABLES) -> dict[str, list]:
    """The rows of the tables ``only`` of a scan's database, in SCAN_TABLES's order."""
    conn = sqlite3.connect(db)
    try:
        return {name: conn.execute(SCAN_TABLES[name]).fetchall() for name in only}
    finally:
        conn.close()


def assert_same_tables(local_db: Path, spark_db: Path, only=SCAN_TABLES) -> None:
    """The two databases hold the same rows in the tables ``only``, row for row."""
    local, other = scan_tables(local_db, only), scan_tables(spark_db, only)
    for name in only:
        assert len(local[name]) == len(other[name]), name
        for a, b in zip(local[name], other[name]):
            assert a == b, f"{name}: local {a[:6]} != spark {b[:6]}"


def asgi_call(app, method: str, path: str, data: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """One request to an ASGI app in this process (what a TestClient does, without httpx):
    (status, body)."""
    import asyncio

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "server": ("test", 80), "client": ("test", 1)}
    sent = []

    async def receive():
        return {"type": "http.request", "body": data, "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
