"""Tests for the ``dedup`` command through click's CliRunner on tmp_path: the summary, ``stats``,
``show``, every bad input (exit code, one-line error naming the problem, never a traceback)."""

from __future__ import annotations

import pathlib
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import dedup
from dedup.apps.cli import cli

from helpers import assert_clean, assert_error, assert_no_drift, debian_copyrights, noise, query, read_clusters, unmark, write_corpus

LATIN1 = "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00e0 la cr\u00e8me br\u00fbl\u00e9e, tr\u00e8s \u00e9l\u00e9gant.\n".encode("latin-1")
SUMMARY_LABELS = ("documents", "paragraphs", "clusters", "duplicate paragraphs", "duplicate characters", "time")


def run(*args: str | Path):
    return CliRunner().invoke(cli, [str(a) for a in args])


def figures(text: str) -> dict[str, str]:
    """The summary's label -> first figure (the number as printed)."""
    out = {}
    for label in SUMMARY_LABELS:
        m = re.search(rf"^\s+{label}\s+([\d,.]+)", text, re.MULTILINE)
        assert m, f"summary has no {label!r} line:\n{text}"
        out[label] = m.group(1)
    return out


@pytest.fixture
def scanned(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    db = tmp_path / "out.db"
    result = run("scan", root, "--db", db)
    assert_clean(result)
    assert result.exit_code == 0, result.output
    return planted, root, db, result


# -- success ---------------------------------------------------------------------------------


def test_scan_prints_the_summary_with_planted_figures(scanned):
    planted, root, db, result = scanned
    out = result.stdout
    f = figures(out)
    n_paragraphs = sum(len(t.splitlines()) for t in planted.files.values())
    duplicates = sum(len(m) - 1 for m in planted.groups.values())
    assert int(f["documents"]) == len(planted.files)
    assert int(f["paragraphs"].replace(",", "")) == n_paragraphs
    assert int(f["clusters"]) == len(planted.groups)
    assert int(f["duplicate paragraphs"]) == duplicates
    dup_chars = query(db, "SELECT sum(length(p.text)) FROM members m JOIN paragraphs p ON p.id = m.paragraph_id WHERE m.relation != 'canonical'")[0][0]
    assert int(f["duplicate characters"].replace(",", "")) == dup_chars
    assert float(f["time"]) >= 0
    assert "Most reused blocks" in out
    assert str(root.resolve()) in out or str(root) in out
    assert f"dedup show {db}" in out
    # the most reused blocks: cluster id, members, documents, as stored; real reuse before
    # boilerplate (where the db flags it), then the biggest first
    # boilerplate (where the db flags it), then most characters copied into other documents
    top = [tuple(int(x.replace(",", "")) for x in m) for m in re.findall(r"^\s*#(\d+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)", out, re.MULTILINE)]
    assert len(top) == min(5, len(planted.groups)), out
    stored = {cid: (size, docs, bool(b), copied) for cid, size, docs, b, copied in query(db, """
        SELECT c.id, c.size, c.n_documents, c.boilerplate, sum(CASE WHEN p.doc_id != cp.doc_id THEN length(p.text) ELSE 0 END)
        FROM clusters c JOIN paragraphs cp ON cp.id = c.canonical_id JOIN members m ON m.cluster_id = c.id
        JOIN paragraphs p ON p.id = m.paragraph_id GROUP BY c.id""")}
    assert all(stored[cid][:2] == (size, docs) and stored[cid][3] == copied for cid, size, docs, copied in top)
    order = [(stored[cid][2], -copied, -docs, -size, cid) for cid, size, docs, copied in top]
    assert order == sorted(order)
    best = min((b, -copied, -docs, -size, cid) for cid, (size, docs, b, copied) in stored.items())
    assert order[0] == best
    assert result.stderr == ""  # no progress bars when stderr is not a terminal


def test_quiet_prints_nothing_but_writes_the_db(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    db = tmp_path / "q.db"
    result = run("scan", root, "--db", db, "-q")
    assert_clean(result)
    assert result.exit_code == 0 and result.output == ""
    assert {c.locations for c in read_clusters(db)} == planted.expected_clusters()


def test_stats_prints_the_same_figures(scanned):
    _, _, db, scan_result = scanned
    result = run("stats", db)
    assert_clean(result)
    assert result.exit_code == 0
    assert figures(result.stdout) == figures(scan_result.stdout)
    assert result.stdout == scan_result.stdout


def test_show_prints_canonical_and_every_member(scanned):
    planted, _, db, _ = scanned
    clusters = read_clusters(db)
    assert len(clusters) == len(planted.groups)
    for c in clusters:
        result = run("show", db, c.id)
        assert_clean(result)
        assert result.exit_code == 0
        out = result.stdout
        assert f"Cluster {c.id}: {len(c.members)} members in {c.n_documents} documents" in out
        assert c.reason in out
        headers = re.findall(r"^\[(\w+) ([\d.]+)\] (\S+):(\d+)", out, re.MULTILINE)
        assert len(headers) == len(c.members)
        assert headers[0][0] == "canonical" and float(headers[0][1]) == 1.0
        assert (headers[0][2], int(headers[0][3])) == (c.canonical.path, c.canonical.line)
        shown = {(path, int(line)): (rel, float(sim)) for rel, sim, path, line in headers}
        for m in c.members:
            rel, sim = shown[(m.path, m.line)]
            assert rel == m.relation and sim == pytest.approx(m.similarity, abs=5e-4)
            assert m.text in unmark(out)  # copies are shown as their diff from the canonical


@pytest.mark.parametrize("policy", ["first", "longest"])
def test_show_canonical_policy(tmp_path, planted, policy):
    """``--canonical`` reaches the scan, the default (``first``) as much as the other policy."""
    root = write_corpus(tmp_path / "corpus", planted.files)
    db = tmp_path / f"{policy}.db"
    assert run("scan", root, "--db", db, "--canonical", policy, "-q").exit_code == 0
    clusters = read_clusters(db)
    assert {c.locations for c in clusters} == planted.expected_clusters()
    for c in clusters:
        first = min(c.members, key=lambda m: (m.path, m.line))
        if policy == "first":
            assert c.canonical == first
            expected = "first in corpus order"
        else:  # the unedited original of a near group; a tie (identical keys) goes to the first
            [group] = [g for g, members in planted.groups.items() if frozenset(members) == c.locations]
            assert (c.canonical.path, c.canonical.line) == planted.canonical.get(group, (first.path, first.line))
            expected = "longest:"
        out = run("show", db, c.id).stdout
        assert expected in out


def test_show_unknown_cluster(scanned):
    planted, _, db, _ = scanned
    result = run("show", db, 99999)
    line = assert_error(result, 1, "99999")
    assert str(len(planted.groups)) in line  # says which ids exist


# -- bad input -------------------------------------------------------------------------------


def test_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    assert_error(run("scan", missing, "--db", tmp_path / "x.db"), 1, "not found", str(missing))
    assert not (tmp_path / "x.db").exists()


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_error(run("scan", tmp_path / "empty", "--db", tmp_path / "x.db"), 1, "no input files found", "empty")
    assert not (tmp_path / "x.db").exists()


def test_folder_with_only_a_binary_txt_file(tmp_path, make_corpus):
    """Binary files are always skipped with a warning (corpus.py); a folder left with no
    document at all is an error (local.py), and no database is written."""
    root = make_corpus(tmp_path / "bin", {"blob.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))})
    result = run("scan", root, "--db", tmp_path / "x.db")
    assert_error(result, 1, str(root))
    warnings = [l for l in result.stderr.splitlines() if l.startswith("warning:")]
    assert len(warnings) == 1 and "blob.txt" in warnings[0] and "binary" in warnings[0]
    assert not (tmp_path / "x.db").exists()


def test_binary_file_next_to_text_is_skipped_with_a_warning(tmp_path, make_corpus, planted):
    root = make_corpus(tmp_path / "corpus", {**planted.files, "blob.txt": b"abc\x00def"})
    result = run("scan", root, "--db", tmp_path / "x.db")
    assert_clean(result)
    assert result.exit_code == 0
    assert "blob.txt" in result.stderr and "binary" in result.stderr
    assert int(figures(result.stdout)["documents"]) == len(planted.files)
    assert "(1 skipped)" in result.stdout


def test_latin1_file_stops_the_scan_naming_file_and_skip_bad(tmp_path, make_corpus, planted):
    root = make_corpus(tmp_path / "corpus", {**planted.files, "old/latin1.txt": LATIN1})
    db = tmp_path / "x.db"
    assert_error(run("scan", root, "--db", db), 1, "old/latin1.txt", "--skip-bad")
    assert not db.exists()

    result = run("scan", root, "--db", db, "--skip-bad")
    assert_clean(result)
    assert result.exit_code == 0, result.output
    [warning] = result.stderr.splitlines()
    assert warning.startswith("warning:") and "old/latin1.txt" in warning
    assert int(figures(result.stdout)["documents"]) == len(planted.files)
    assert "(1 skipped)" in result.stdout
    assert {c.locations for c in read_clusters(db)} == planted.expected_clusters()


def test_unreadable_file(tmp_path, make_corpus, planted, monkeypatch):
    """chmod 000 means nothing to root, so Path.open refuses the file instead."""
    root = make_corpus(tmp_path / "corpus", {**planted.files, "locked.txt": "正文正文正文正文正文正文\n"})
    real_open = pathlib.Path.open

    def refusing_open(self, *args, **kwargs):
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", refusing_open)
    db = tmp_path / "x.db"
    assert_error(run("scan", root, "--db", db), 1, "locked.txt", "Permission denied", "--skip-bad")
    assert not db.exists()

    result = run("scan", root, "--db", db, "--skip-bad")
    assert_clean(result)
    assert result.exit_code == 0
    [warning] = result.stderr.splitlines()
    assert "locked.txt" in warning and warning.startswith("warning:")
    assert int(figures(result.stdout)["documents"]) == len(planted.files)


@pytest.mark.parametrize("value", ["0", "1.5", "-1", "abc"])
def test_threshold_out_of_range_is_a_usage_error(tmp_path, planted, value):
    root = write_corpus(tmp_path / "corpus", planted.files)
    result = run("scan", root, "--db", tmp_path / "x.db", "--threshold", value)
    assert_error(result, 2, "--threshold")
    assert "Usage:" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_threshold_one_is_accepted(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    result = run("scan", root, "--db", tmp_path / "x.db", "--threshold", "1", "-q")
    assert_clean(result)
    assert result.exit_code == 0
    # no edited copy reaches Jaccard 1: identical keys stay exact copies, and an edited copy is
    # at most a partial copy ("contained"), never "near" (the planted edited copies are about as
    # long as their original, so they are not partial copies either and stay out of clusters)
    clusters = read_clusters(tmp_path / "x.db")
    identical = {frozenset(m) for g, m in planted.groups.items() if planted.kinds[g] != "near"}
    assert identical <= {c.locations for c in clusters}
    for c in clusters:
        relations = {m.relation for m in c.members} - {"canonical"}
        assert relations == ({"exact"} if c.locations in identical else {"contained"}), c.id
    assert_no_drift(clusters, threshold=1.0)


def test_threshold_one_without_partial_copies_keeps_identical_keys_only(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    result = run("scan", root, "--db", tmp_path / "x.db", "--threshold", "1", "--containment", "0", "-q")
    assert_clean(result)
    assert result.exit_code == 0, result.output
    identical = {frozenset(m) for g, m in planted.groups.items() if planted.kinds[g] != "near"}
    assert {c.locations for c in read_clusters(tmp_path / "x.db")} == identical


def test_bands_must_divide_num_perm(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    result = run("scan", root, "--db", tmp_path / "x.db", "--num-perm", "100", "--bands", "16")
    line = assert_error(result, 2, "divisible")
    assert "100" in line and "16" in line
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(
    "args",
    [["--num-perm", "1"], ["--num-perm", "5000"], ["--bands", "0"], ["--shingle-size", "0"],
     ["--split", "pages"], ["--canonical", "newest"], ["--min-chars", "-1"], ["--containment", "1.5"],
     ["--workers", "-1"], ["--normalize", "nfkc,shout"], ["--nonsense"]],
)
def test_other_option_misuse_exits_2(tmp_path, planted, args):
    root = write_corpus(tmp_path / "corpus", planted.files)
    assert_error(run("scan", root, "--db", tmp_path / "x.db", *args), 2, args[0])


def test_db_pointing_at_a_folder(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    (tmp_path / "dbdir").mkdir()
    assert_error(run("scan", root, "--db", tmp_path / "dbdir"), 1, "folder", "dbdir")
    assert list((tmp_path / "dbdir").iterdir()) == []


def test_db_that_is_a_text_file_is_never_overwritten(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    notes = tmp_path / "notes.txt"
    notes.write_text("do not lose me\n", encoding="utf-8")
    for extra in ([], ["--force"]):
        assert_error(run("scan", root, "--db", notes, *extra), 1, "notes.txt", "not a dedup database")
        assert notes.read_text(encoding="utf-8") == "do not lose me\n"
    assert_error(run("stats", notes), 1, "not a dedup database")
    assert_error(run("show", notes, 1), 1, "not a dedup database")


def test_db_of_another_corpus_needs_force(tmp_path, planted):
    one = write_corpus(tmp_path / "one", planted.files)
    two = write_corpus(tmp_path / "two", {"a.txt": noise(random.Random(2)) + "\n"})
    db = tmp_path / "out.db"
    assert run("scan", one, "--db", db, "-q").exit_code == 0
    before = db.read_bytes()
    assert_error(run("scan", two, "--db", db), 1, "--force", str(one.resolve()))
    assert db.read_bytes() == before
    result = run("scan", two, "--db", db, "--force")
    assert_clean(result)
    assert result.exit_code == 0 and int(figures(result.stdout)["documents"]) == 1


def test_rescan_same_corpus_updates_and_full_replaces(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    db = tmp_path / "out.db"
    first = run("scan", root, "--db", db)
    second = run("scan", root, "--db", db)
    assert first.exit_code == second.exit_code == 0
    assert second.stdout.startswith(f"Updated {db}: 0 files new or changed, 0 deleted, 0 cluster changes")
    assert {k: v for k, v in figures(first.stdout).items() if k != "time"} == {
        k: v for k, v in figures(second.stdout).items() if k != "time"
    }
    assert query(db, "SELECT count(*) FROM runs")[0][0] == 2
    third = run("scan", root, "--db", db, "--full")
    assert third.exit_code == 0 and "Updated" not in third.stdout
    assert query(db, "SELECT count(*) FROM runs")[0][0] == 1


@pytest.mark.parametrize("command", ["stats", "show"])
def test_reading_a_missing_db(tmp_path, command):
    args = [command, tmp_path / "none.db"] + (["1"] if command == "show" else [])
    assert_error(run(*args), 1, "none.db", "dedup scan")
    assert not (tmp_path / "none.db").exists()


def test_show_cluster_id_must_be_an_integer(scanned):
    _, _, db, _ = scanned
    assert_error(run("show", db, "one"), 2, "CLUSTER_ID")


# -- help and version ------------------------------------------------------------------------


def test_every_command_has_help():
    top = run("--help")
    assert top.exit_code == 0 and "Usage:" in top.stdout
    assert cli.commands, "no commands registered"
    for name, command in cli.commands.items():
        assert name in top.stdout
        result = run(name, "--help")
        assert_clean(result)
        assert result.exit_code == 0, name
        assert result.stdout.startswith("Usage:") and name in result.stdout.splitlines()[0]
        assert (command.help or "").strip(), f"{name} has no help text"
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.opts[-1] in result.stdout, (name, param.opts)
                assert param.help, (name, param.opts)


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and dedup.__version__ in result.stdout


def test_python_dash_m_dedup():
    result = subprocess.run([sys.executable, "-m", "dedup", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "Usage:" in result.stdout


def test_a_library_error_is_shown_on_one_line_whatever_it_quotes():
    """Found by the fuzzing: clean's message about 'new\\nline-0.jsonl.gz' came out on two lines."""
    from dedup.apps.cli import UserError

    assert UserError("new\nline-0.jsonl.gz: broken gzip stream").format_message() == "new\\nline-0.jsonl.gz: broken gzip stream"
    assert UserError("语料/文件.txt: 坏了").format_message() == "语料/文件.txt: 坏了"


# -- files without a suffix; --include and --exclude ---------------------------------------------

SILENCE = "--exclude leaves such files out without this warning"
PATTERN_HINT = "patterns match the path below it: 'copyright' a name in any folder, 'docs/*.md' from the top, '**' any folders"


def warnings_of(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("warning:")]


def test_scan_of_debian_copyright_files(tmp_path):
    """A folder of /usr/share/doc/PACKAGE/copyright files (no suffix): every one read, and the
    licence text they share found across packages. Before sniffing: 'no input files found'."""
    files = debian_copyrights(tmp_path / "doc")
    db = tmp_path / "d.db"
    result = run("scan", tmp_path / "doc", "--db", db, "--workers", "1")
    assert_clean(result)
    assert result.exit_code == 0, result.stderr
    assert warnings_of(result) == []
    assert int(figures(result.stdout)["documents"]) == len(files)
    assert [p for (p,) in query(db, "SELECT path FROM documents ORDER BY id")] == sorted(files)
    # the GPL notice is pasted from package to package
    [(shared,)] = query(db, "SELECT max(n_documents) FROM clusters")
    assert shared >= 3


def test_binary_without_a_suffix_is_skipped_with_a_warning_and_exclude_silences_it(tmp_path):
    files = debian_copyrights(tmp_path / "doc", ("bash", "tar"))
    (tmp_path / "doc" / "bin").mkdir()
    shutil.copyfile("/bin/true", tmp_path / "doc" / "bin" / "true")
    result = run("scan", tmp_path / "doc", "--db", tmp_path / "d.db", "--workers", "1")
    assert result.exit_code == 0, result.stderr
    assert warnings_of(result) == [f"warning: bin/true: binary file (NUL bytes), skipped; {SILENCE}"]
    assert f"{len(files)}   (1 skipped)" in result.stdout
    result = run("scan", tmp_path / "doc", "--db", tmp_path / "e.db", "--workers", "1", "--exclude", "bin/")
    assert result.exit_code == 0 and warnings_of(result) == [] and "skipped" not in result.stdout


def test_include_and_exclude_choose_the_documents(tmp_path):
    debian_copyrights(tmp_path / "doc")
    (tmp_path / "doc" / "bash" / "README").write_text("Bash is the GNU shell.\n", encoding="utf-8")
    db = tmp_path / "d.db"
    result = run("scan", tmp_path / "doc", "--db", db, "--include", "copyright", "--include", "README", "--exclude", "g*", "--exclude", "**/bash/copyright")
    assert result.exit_code == 0, result.stderr
    paths = [p for (p,) in query(db, "SELECT path FROM documents ORDER BY id")]
    assert paths == ["base-files/copyright", "bash/README", "coreutils/copyright", "diffutils/copyright", "dpkg/copyright", "findutils/copyright", "sed/copyright", "tar/copyright"]


@pytest.mark.parametrize(
    "options, fragment",
    [
        (["--include", "copyrite"], "--include 'copyrite' matches no file in"),
        (["--exclude", "Bash"], "--exclude 'Bash' matches nothing in"),
        (["--include", "/usr/share/doc/*/copyright"], "--include '/usr/share/doc/*/copyright' matches no file in"),
        (["--include", "bash/*", "--exclude", "bash"], "--include 'bash/*' matches no file in"),
    ],
)
def test_a_glob_that_matches_nothing_is_option_misuse(tmp_path, options, fragment):
    debian_copyrights(tmp_path / "doc", ("bash", "tar"))
    result = run("scan", tmp_path / "doc", "--db", tmp_path / "d.db", *options)
    line = assert_error(result, 2, fragment, str(tmp_path / "doc"), PATTERN_HINT)
    assert result.stderr.startswith("Usage: ") and "scan [OPTIONS] CORPUS" in result.stderr.splitlines()[0]
    assert not (tmp_path / "d.db").exists()
    assert line == assert_error(run("clean", tmp_path / "doc", "--out", tmp_path / "out", *options), 2)


def test_patterns_that_leave_out_every_file_are_no_input_files(tmp_path):
    debian_copyrights(tmp_path / "doc", ("bash", "tar"))
    result = run("scan", tmp_path / "doc", "--db", tmp_path / "d.db", "--exclude", "copyright")
    assert_error(result, 1, f"no input files found in {tmp_path / 'doc'}: --exclude 'copyright' left out every file there (2 files); change the patterns")
    result = run("scan", tmp_path / "doc", "--db", tmp_path / "d.db", "--exclude", "*")  # every folder
    assert_error(result, 1, "--exclude '*' left out every file there (2 folders); change the patterns")


@pytest.mark.parametrize("pattern", ["", "a//b"])
def test_a_glob_that_can_match_no_path_is_refused(tmp_path, pattern):
    (tmp_path / "a.txt").write_text("x\n", encoding="utf-8")
    assert_error(run("scan", tmp_path, "--db", tmp_path / "d.db", "--include", pattern), 2, f"--include {pattern!r}")


def test_include_on_stdin_is_refused(tmp_path):
    result = CliRunner().invoke(cli, ["scan", "-", "--db", str(tmp_path / "d.db"), "--include", "*.txt"], input='{"text": "a"}\n')
    assert_error(result, 2, "--include and --exclude choose files of a corpus folder; stdin has none")


def test_update_with_other_patterns_and_add_follow_the_selection(tmp_path):
    """A scan again with another --exclude is an update (the folder is listed again) ending
    where a full scan ends; add reads a new file without a suffix, and refuses one the scan's
    patterns leave out, naming the pattern."""
    doc = tmp_path / "doc"
    debian_copyrights(doc)
    db, full = tmp_path / "d.db", tmp_path / "full.db"
    assert run("scan", doc, "--db", db, "--workers", "1").exit_code == 0
    result = run("scan", doc, "--db", db, "--workers", "1", "--exclude", "bash", "--exclude", "tar")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"Updated {db}: 0 files new or changed, 2 deleted")
    assert run("scan", doc, "--db", full, "--workers", "1", "--exclude", "bash", "--exclude", "tar").exit_code == 0
    rows = "SELECT d.path, p.line_start, p.cluster_id IS NULL FROM paragraphs p JOIN documents d ON d.id = p.doc_id ORDER BY d.path, p.idx"
    assert query(db, rows) == query(full, rows)
    (doc / "zz").mkdir()
    shutil.copyfile(doc / "sed" / "copyright", doc / "zz" / "LICENSE")
    added = run("add", db, doc / "zz" / "LICENSE", "--workers", "1")
    assert added.exit_code == 0, added.stderr
    assert added.stdout.startswith("1 document added")
    refused = run("add", db, doc / "tar" / "copyright")
    assert_error(refused, 1, "tar/copyright: a scan of the corpus would not read it (--exclude 'tar' matches it)")


def test_clean_writes_the_selected_files_and_copies_a_page_without_a_suffix_unchanged(tmp_path):
    doc = tmp_path / "doc"
    files = debian_copyrights(doc)
    page = "<!DOCTYPE html>\n<html><body><p>" + files["bash/copyright"].decode().splitlines()[0] + "</p></body></html>\n"
    (doc / "index").write_text(page, encoding="utf-8")
    out = tmp_path / "out"
    result = run("clean", doc, "--out", out, "--exclude", "tar", "--workers", "1")
    assert result.exit_code == 0, result.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted([".dedup-manifest.jsonl", "index", *(f for f in files if f != "tar/copyright")])
    assert (out / "index").read_text(encoding="utf-8") == page  # markup: copied, never cut
    cut = [f for f in files if f != "tar/copyright" and (out / f).read_bytes() != files[f]]
    assert cut and all(len((out / f).read_bytes()) < len(files[f]) for f in cut)
    assert "HTML and WARC files were copied unchanged" in result.stderr


def test_scan_and_clean_help_describe_include_and_exclude():
    for command in ("scan", "clean"):
        text = " ".join(run(command, "--help").output.split())
        assert "--include GLOB" in text and "--exclude GLOB" in text and "** spans folders" in text and "case-sensitive" in text
