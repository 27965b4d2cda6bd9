"""dedup filter: a JSONL stream in, the same stream out without (or marking) duplicate paragraphs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from dedup.config import ScanConfig
from dedup.apps.filter import filter_stream, reference_index
from dedup.store.index import KeyIndex
from dedup.sources.records import RecordError
from dedup.pipeline import scan

ROOT = Path(__file__).resolve().parents[2]
SPEECH = [
    "各级党组织要切实履行疫情防控主体责任，坚决守住外防输入内防反弹的底线。",
    "今年以来我市经济运行总体平稳，工业生产稳中有进，消费市场逐步回暖。",
    "要加强基层党组织建设，把党员干部的积极性充分调动起来，形成工作合力。",
    "全面推进乡村振兴，巩固拓展脱贫攻坚成果，让农民群众的日子越过越红火。",
]


def line(record) -> bytes:
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def run_filter(lines: list[bytes], **kwargs) -> tuple[list[bytes], object]:
    config = kwargs.pop("config", ScanConfig())
    index = kwargs.pop("index", None)
    if index is None:  # not ``or``: an empty index has len 0 and is falsy
        index = KeyIndex(config)
    out: list[bytes] = []
    result = filter_stream(lines, out.append, index, config, **kwargs)
    return out, result


def test_later_copies_in_the_stream_go_and_the_first_stays():
    traditional = "各級黨組(zǔ)織要切實履行疫情防控主體責任，堅決守住外防輸入內防反彈的底線。"
    truncated = SPEECH[3][:16]  # Jaccard with the whole well under 0.6: only a part of it
    lines = [
        line({"id": 1, "text": f"{SPEECH[0]}\n{SPEECH[1]}"}),
        line({"id": 2, "text": f"{traditional}\n{SPEECH[2]}\n{truncated}"}),
        line({"id": 3, "text": f"{SPEECH[3]}\n{SPEECH[1]}"}),
    ]
    out, result = run_filter(lines)
    assert out[0] == lines[0]  # nothing to remove: byte for byte
    assert json.loads(out[1]) == {"id": 2, "text": f"{SPEECH[2]}\n{truncated}"}  # near copy of record 1 gone
    assert json.loads(out[2]) == {"id": 3, "text": SPEECH[3]}  # exact copy of record 1 gone
    assert (result.records, result.duplicates, result.rewritten) == (3, 2, 2)


def test_a_contained_fragment_goes_when_its_whole_came_first():
    lines = [line({"text": SPEECH[3] + SPEECH[2]}), line({"text": SPEECH[3]})]
    out, _ = run_filter(lines)
    assert json.loads(out[1])["text"] == ""


def test_mark_lists_what_each_duplicate_copies_and_keeps_the_text():
    lines = [line({"id": "a", "text": SPEECH[0]}), line({"id": "b", "text": f"{SPEECH[1]}\n{SPEECH[0]}"})]
    out, _ = run_filter(lines, mark=True)
    record = json.loads(out[1])
    assert record["text"] == f"{SPEECH[1]}\n{SPEECH[0]}"
    (dup,) = record["dedup_duplicates"]
    assert (dup["line_start"], dup["relation"], dup["copies"]["document"], dup["copies"]["line_start"]) == (2, "exact", "a", 1)


def test_reference_database_and_no_stream(tmp_path):
    corpus = tmp_path / "ref"
    corpus.mkdir()
    (corpus / "old.txt").write_text(f"{SPEECH[0]}\n{SPEECH[1]}\n", encoding="utf-8")
    db = tmp_path / "ref.db"
    scan(corpus, ScanConfig(workers=1), db)
    reference, config = reference_index(db)
    lines = [line({"text": f"{SPEECH[1]}\n{SPEECH[2]}"}), line({"text": SPEECH[2]})]
    out, result = run_filter(lines, reference=reference, config=config, stream=False, mark=True)
    first = json.loads(out[0])["dedup_duplicates"]
    assert [(d["line_start"], d["copies"]["document"], d["copies"]["in"]) for d in first] == [(1, "old.txt", "reference")]
    assert out[1] == lines[1]  # not compared with the stream
    assert result.duplicates == 1
    # with the stream too: the second record copies the first record's new paragraph
    out, result = run_filter(lines, reference=reference, config=config)
    assert json.loads(out[0])["text"] == SPEECH[2] and json.loads(out[1])["text"] == ""
    assert result.duplicates == 2


def test_bad_lines_stop_or_pass_through_and_nothing_is_lost():
    lines = [line({"text": SPEECH[0]}), b"{not json\n", line({"body": "x"}), b"\n", line({"text": SPEECH[0]})]
    with pytest.raises(RecordError, match="^-:2: not valid JSON"):
        run_filter(lines)
    skipped = []
    out, result = run_filter(lines, skip_bad=True, on_skip=skipped.append)
    assert out[1:4] == lines[1:4] and json.loads(out[4])["text"] == ""
    assert len(out) == len(lines) and result.passed_bad == 2 and len(skipped) == 2


def cli(args, stdin: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dedup", *args], input=stdin, capture_output=True, cwd=ROOT)


def test_filter_cli_stdout_is_data_only_and_report_on_stderr():
    data = b"".join(line({"id": i, "text": SPEECH[i % 2]}) for i in range(6))
    done = cli(["filter"], data)
    assert done.returncode == 0, done.stderr.decode()
    out = [json.loads(x) for x in done.stdout.decode("utf-8").splitlines()]
    assert [r["text"] for r in out] == [SPEECH[0], SPEECH[1], "", "", "", ""]
    assert done.stderr.decode().strip() == "6 records, 6 paragraphs: 4 duplicates removed in 4 records"


@pytest.mark.parametrize(
    "stdin, message",
    [
        (b'{"text": 1}\n', "Error: -:1: field 'text' is int, not a string"),
        (b'{"id": 1}\n', "Error: -:1: no 'text' field; name the text field with --text-field"),
        ('{"text": "中文"}\n'.encode("gbk"), "Error: -:1: not UTF-8"),
    ],
)
def test_filter_cli_bad_input_is_one_line_and_exit_1(stdin, message):
    done = cli(["filter", "-q"], stdin)
    assert done.returncode == 1
    assert done.stderr.decode().strip().startswith(message) and b"Traceback" not in done.stderr


def test_filter_cli_empty_stream_and_option_misuse():
    done = cli(["filter"], b"")
    assert done.returncode == 0 and done.stdout == b""
    done = cli(["filter", "--no-stream"], b"")
    assert done.returncode == 2 and b"--no-stream needs --db" in done.stderr


def test_filter_cli_broken_pipe_is_quiet():
    data = b"".join(line({"id": i, "text": f"第{i}段，" + SPEECH[i % 4]}) for i in range(20000))
    proc = subprocess.Popen(
        f"{sys.executable} -m dedup filter | head -c 100 > /dev/null", shell=True, stdin=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    _, err = proc.communicate(data)
    assert b"Traceback" not in err and b"Exception ignored" not in err


@pytest.mark.parametrize("mark", [False, True])
def test_the_compiled_stream_index_answers_as_the_sqlite_one(mark):
    """CompiledKeyIndex (what dedup filter uses with the compiled core) gives the same output as
    KeyIndex, marks and similarities included, on records built from the seeds' paragraphs with
    the copies, partial copies and edits a dump holds."""
    from dedup import compiled
    from dedup.store.index import CompiledKeyIndex
    from dedup.text.paragraphs import split_paragraphs

    if not compiled.available():
        pytest.skip("the compiled core is not built")
    paragraphs = [p.text for f in sorted((ROOT / "data" / "seeds").glob("*.txt")) for p in split_paragraphs(f.read_text(encoding="utf-8"))]
    records, rng = [], __import__("random").Random(3)
    for i in range(300):
        picked = [rng.choice(paragraphs) for _ in range(rng.randint(1, 4))]
        picked = [p[: max(12, len(p) * rng.randint(6, 10) // 10)] if rng.random() < 0.3 else p for p in picked]  # truncated copies
        picked = [p.replace("的", "之", 1) if rng.random() < 0.2 else p for p in picked]  # small edits
        records.append(line({"id": i, "text": "\n".join(picked)}))
    config = ScanConfig()
    out_sqlite, result_sqlite = run_filter(records, config=config, index=KeyIndex(config), mark=mark)
    compiled_index = CompiledKeyIndex(config)
    try:
        out_compiled, result_compiled = run_filter(records, config=config, index=compiled_index, mark=mark)
    finally:
        compiled_index.close()
    assert result_sqlite.duplicates > 100  # the stream holds many copies: the test means something
    assert out_compiled == out_sqlite and result_compiled == result_sqlite


def _seed_paragraphs() -> list[str]:
    from dedup.text.paragraphs import split_paragraphs

    return [p.text for f in sorted((ROOT / "data" / "seeds").glob("*.txt")) for p in split_paragraphs(f.read_text(encoding="utf-8"))]


SEED_PARAGRAPHS = _seed_paragraphs()


@st.composite
def record_streams(draw) -> list[bytes]:
    """Records of 1-4 paragraphs: seed paragraphs, and exact, cut, edited and shortened copies
    of any paragraph earlier in the stream (so of the same batch as often as of an earlier one)."""
    made: list[str] = []
    records = []
    for r in range(draw(st.integers(2, 14))):
        paragraphs = []
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(["fresh", "copy", "cut", "edit", "short"]))
            if kind == "fresh" or not made:
                p = SEED_PARAGRAPHS[draw(st.integers(0, len(SEED_PARAGRAPHS) - 1))]
            else:
                p = made[draw(st.integers(0, len(made) - 1))]
            if kind == "cut":
                p = p[: max(12, len(p) * draw(st.integers(5, 9)) // 10)]
            elif kind == "edit" and len(p) > 2:
                at = draw(st.integers(1, len(p) - 2))
                p = p[:at] + draw(st.sampled_from("之甲乙x")) + p[at + 1 :]
            elif kind == "short":
                p = p[: draw(st.integers(4, 30))]
            p = p.strip() or "空"
            paragraphs.append(p)
            made.append(p)
        records.append(line({"id": r, "text": "\n".join(paragraphs)}))
    return records


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=record_streams(), batch=st.integers(2, 14), mark=st.booleans())
def test_batched_filtering_keeps_and_drops_exactly_what_record_by_record_filtering_does(records, batch, mark):
    """Batches (of 2 records up to the whole stream) give the same output, decisions, marks and
    similarities as batches of one record, with either index: a copy of a paragraph earlier in
    the same batch goes just as a copy of one in an earlier batch does."""
    from dedup import compiled
    from dedup.store.index import CompiledKeyIndex

    config = ScanConfig()
    indexes = [KeyIndex] + ([CompiledKeyIndex] if compiled.available() else [])
    outputs = []
    for make in indexes:
        for size in (1, batch):
            index = make(config)
            try:
                outputs.append(run_filter(records, config=config, index=index, mark=mark, batch=size))
            finally:
                index.close()
    assert all(out == outputs[0] for out in outputs[1:])


def test_filter_cli_batches_and_its_reader_process_give_the_same_output_as_one_record_at_a_time():
    """``dedup filter`` as run (batches read ahead in a forked process) against --batch 1, on
    records with copies inside batches and across them, a bad line passed through, a blank one."""
    rng = __import__("random").Random(7)
    records = [line({"id": i, "text": "\n".join(rng.choice(SEED_PARAGRAPHS) for _ in range(rng.randint(1, 3)))}) for i in range(120)]
    records[50:50] = [b"{not json\n", b"\n"]
    data = b"".join(records)
    outputs = [cli(["filter", "--skip-bad", "--mark", "--batch", str(size)], data) for size in (1, 7, 500)]
    assert all(done.returncode == 0 for done in outputs), outputs[0].stderr.decode()
    assert outputs[0].stdout.count(b"dedup_duplicates") > 20
    assert outputs[1].stdout == outputs[0].stdout and outputs[2].stdout == outputs[0].stdout
    assert outputs[1].stderr == outputs[0].stderr and b"passed through" in outputs[0].stderr


@pytest.mark.parametrize("stream", [True, False])
def test_batches_with_a_reference_corpus_decide_as_one_record_at_a_time(tmp_path, stream):
    """With --db, the reference is asked first and the stream's index after, batch or not."""
    corpus = tmp_path / "ref"
    corpus.mkdir()
    (corpus / "old.txt").write_text("\n".join(SEED_PARAGRAPHS[::7]) + "\n", encoding="utf-8")
    db = tmp_path / "ref.db"
    scan(corpus, ScanConfig(workers=1), db)
    reference, config = reference_index(db)
    rng = __import__("random").Random(5)
    records = [line({"id": i, "text": "\n".join(rng.choice(SEED_PARAGRAPHS) for _ in range(rng.randint(1, 3)))}) for i in range(60)]
    outs = [run_filter(records, reference=reference, config=config, stream=stream, mark=True, batch=size) for size in (1, 4, 60)]
    marked = b"".join(outs[0][0])
    assert marked.count(b'"in": "reference"') > 5 and (not stream or marked.count(b'"in": "stream"') > 5)
    assert outs[1] == outs[0] and outs[2] == outs[0]
