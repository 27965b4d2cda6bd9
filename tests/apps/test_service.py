"""The HTTP service, started for real on a free loopback port and spoken to over HTTP."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import copies_by_scan, scanned_seeds, Server, TOKEN
from dedup.config import ScanConfig
from dedup.pipeline import scan

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted((ROOT / "data" / "seeds").iterdir())


@pytest.fixture
def served(tmp_path):
    corpus, db = scanned_seeds(tmp_path, SEEDS[:4])
    server = Server(db)
    yield server, corpus, db
    server.stop()


def test_query_answers_as_a_scan_would_and_stores_nothing(served, tmp_path):
    server, corpus, db = served
    text = SEEDS[4].read_text(encoding="utf-8")
    status, answer = server.post("/query", {"text": text}, token=None)
    assert status == 200
    paragraphs = answer["paragraphs"]
    assert any(p["status"] == "copy" for p in paragraphs) and any(p["status"] == "new" for p in paragraphs)
    assert sqlite3.connect(db).execute("SELECT count(*) FROM documents").fetchone()[0] == 4
    # the scan's answer for the same text added after the corpus
    assert _copies(paragraphs) == copies_by_scan(corpus, text, tmp_path)


def _copies(paragraphs: list[dict]) -> dict[int, str]:
    """The service's answer in the shape of ``copies_by_scan``."""
    return {p["line_start"]: f"{p['relation']} {p['canonical']['document']}:{p['canonical']['line_start']}" for p in paragraphs if p["status"] == "copy"}


def test_documents_need_the_token_and_match_a_scan(served, tmp_path):
    server, corpus, db = served
    text = SEEDS[4].read_text(encoding="utf-8")
    assert server.post("/documents", {"text": text, "id": "d4"}, token=None)[0] == 401
    status, bad = server.post("/documents", {"text": text, "date": "yesterday"})
    assert status == 422 and bad["error"].startswith("invalid request: body.date")
    assert server.post("/documents", {"text": text, "id": "d4"}, token="wrong")[0] == 401
    status, added = server.post("/documents", {"text": text, "id": "d4", "meta": {"site": "x"}})
    assert status == 200, added
    assert added["path"] == "d4"
    # the same as a scan of the corpus with the document added last (a posted document sorts
    # after every file, as zzz.txt does here)
    copies = _copies(added["paragraphs"])
    assert copies and copies == copies_by_scan(corpus, text, tmp_path)
    status, again = server.get(f"/documents/{added['id']}")
    assert status == 200 and again == added
    # now stored: every paragraph of the text is a copy of something
    status, query = server.post("/query", {"text": text}, token=None)
    assert {p["status"] for p in query["paragraphs"]} == {"copy"}
    # a second add of the same id replaces it
    status, replaced = server.post("/documents", {"text": "一段全新的文字，与语料中的任何内容都不相同，长度也足够了。", "id": "d4"})
    assert status == 200 and [p["status"] for p in replaced["paragraphs"]] == ["new"]
    assert sqlite3.connect(db).execute("SELECT count(*) FROM documents WHERE path = 'd4'").fetchone()[0] == 1


def test_reads_of_clusters_paragraphs_documents_and_stats(served):
    server, _, db = served
    assert server.get("/stats")[1]["documents"] == 4
    status, cluster = server.get("/clusters/1")
    assert status == 200 and cluster["members"][0]["relation"] == "canonical"
    pid = cluster["members"][0]["paragraph_id"]
    status, paragraph = server.get(f"/paragraphs/{pid}")
    assert status == 200 and paragraph["cluster_id"] == 1
    status, document = server.get(f"/documents/{paragraph['document_id']}")
    assert status == 200 and document["paragraphs"][paragraph["idx"]]["cluster_id"] == 1


@pytest.mark.parametrize(
    "method, path, body, status, message",
    [
        ("GET", "/clusters/999999", None, 404, "no cluster 999999"),
        ("GET", "/paragraphs/0", None, 422, "invalid request: path.paragraph_id"),
        ("GET", "/paragraphs/99999999", None, 404, "no paragraph 99999999"),
        ("GET", "/documents/999999", None, 404, "no document 999999"),
        ("GET", "/clusters/abc", None, 422, "invalid request: path.cluster_id"),
        ("POST", "/query", {"txt": "x"}, 422, "invalid request: body.text: Field required"),
        ("POST", "/query", [1, 2], 422, "invalid request"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_json_error(served, method, path, body, status, message):
    server = served[0]
    got, answer = server.request(method, path, body)
    assert got == status and answer["error"].startswith(message)


def test_body_limit_and_read_only_server(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(SEEDS[1], corpus)
    db = tmp_path / "s.db"
    scan(corpus, ScanConfig(workers=1), db)
    server = Server(db, token=None, max_body=2000)
    try:
        status, answer = server.post("/query", {"text": "字" * 3000}, token=None)
        assert status == 413 and "request body over 2,000 bytes" in answer["error"]
        status, answer = server.post("/documents", {"text": "一段文字"}, token="anything")
        assert status == 403 and "read-only" in answer["error"]
        status, raw = server.request("POST", "/query", raw=b"{not json")
        assert status == 422
    finally:
        server.stop()


def test_openapi_schema_lists_the_endpoints(served):
    status, schema = served[0].get("/openapi.json")
    assert status == 200
    assert {"/query", "/documents", "/clusters/{cluster_id}", "/documents/{document_id}", "/paragraphs/{paragraph_id}", "/stats", "/healthz"} <= set(schema["paths"])


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.6])
def test_a_server_killed_during_a_write_leaves_a_consistent_database(tmp_path, delay):
    """SIGKILL at some point of POST /documents: after a restart the database is intact and
    holds the document either completely or not at all."""
    import signal
    import threading

    corpus, db = scanned_seeds(tmp_path, SEEDS[:4])
    server = Server(db)
    text = SEEDS[4].read_text(encoding="utf-8")
    writer = threading.Thread(target=lambda: _ignore(server.post, "/documents", {"text": text, "id": "k"}))
    writer.start()
    time.sleep(delay)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    writer.join(60)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        docs = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        paragraphs = conn.execute("SELECT count(*) FROM paragraphs WHERE doc_id IN (SELECT id FROM documents WHERE path = 'k')").fetchone()[0]
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        conn.close()
    assert (docs, runs) in {(4, 1), (5, 2)}
    assert paragraphs == (0 if docs == 4 else len([line for line in text.splitlines() if line.strip()]))
    restarted = Server(db)
    try:
        assert restarted.get("/stats")[1]["documents"] == docs
        assert restarted.post("/documents", {"text": text, "id": "k"})[0] == 200
    finally:
        restarted.stop()


def _ignore(call, *args):
    try:
        call(*args)
    except OSError:  # the connection dies with the server
        pass


def test_review_cases_chunked_limit_404_surrogates_and_posting_order(tmp_path):
    import http.client

    corpus = tmp_path / "c"
    corpus.mkdir()
    speech = "各级党组织要切实履行疫情防控主体责任，坚决守住外防输入内防反弹的底线。"
    (corpus / "新闻.txt").write_text(speech + "\n", encoding="utf-8")
    db = tmp_path / "s.db"
    scan(corpus, ScanConfig(workers=1), db)
    server = Server(db, max_body=5000)
    try:
        # a chunked body over the limit: 413, as with a Content-Length
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.putrequest("POST", "/query")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        payload = json.dumps({"text": "字" * 4000}).encode()
        for i in range(0, len(payload), 1000):
            piece = payload[i : i + 1000]
            conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        assert response.status == 413 and "request body over" in json.loads(response.read())["error"]
        assert server.get("/nope") == (404, {"error": "Not Found"})
        status, answer = server.request("POST", "/documents", raw=b'{"text": "abc\\ud800def"}', token=TOKEN)
        assert status == 422 and "lone surrogate" in answer["error"]
        status, answer = server.request("POST", "/documents", raw=b'{"text": "abc", "meta": {"k": ["\\udc80"]}}', token=TOKEN)
        assert status == 422 and "meta" in answer["error"] and "lone surrogate" in answer["error"]
        for depth in range(940, 990, 4):  # found by review: a RecursionError (500) checking deep metadata
            status, answer = server.request("POST", "/documents", raw=b'{"text": "abc", "meta": {"k": ' + b"[" * depth + b"]" * depth + b"}}", token=TOKEN)
            assert status in (200, 400, 422) and isinstance(answer, dict), (depth, status, answer)
        # a posted document comes after the corpus (even a Chinese file name) and after earlier posts
        status, posted = server.post("/documents", {"text": speech, "id": "doc1"})
        assert status == 200 and posted["paragraphs"][0]["canonical"]["document"] == "新闻.txt"
        status, second = server.post("/documents", {"text": speech, "id": "a"})
        assert second["paragraphs"][0]["relation"] == "exact" and second["paragraphs"][0]["canonical"]["document"] == "新闻.txt"
    finally:
        server.stop()


def test_queries_follow_the_database_through_writes_and_outside_updates(served):
    server, corpus, db = served
    text = SEEDS[4].read_text(encoding="utf-8")
    with ThreadPoolExecutor(4) as pool:
        writes = [pool.submit(server.post, "/documents", {"text": text, "id": "x"}) for _ in range(3)]
        reads = [pool.submit(server.post, "/query", {"text": text}, None) for _ in range(30)]
        assert {r.result()[0] for r in reads} == {200}
        assert {w.result()[0] for w in writes} == {200}
    from click.testing import CliRunner

    from dedup.apps.cli import cli

    assert CliRunner().invoke(cli, ["remove", str(db), SEEDS[0].name, "--workers", "1"]).exit_code == 0
    status, answer = server.post("/query", {"text": SEEDS[0].read_text(encoding="utf-8")}, token=None)
    assert status == 200
    assert all(p["canonical"]["document"] != SEEDS[0].name for p in answer["paragraphs"] if p["status"] == "copy")


def test_query_finds_repeats_inside_the_text_and_takes_the_earliest_canonical(tmp_path):
    from dedup.store.lookup import StoredIndex

    s = "各级党组织要切实履行疫情防控主体责任，坚决守住外防输入内防反弹的底线，"
    x1, x2 = "同时要做好经济社会发展各项工作。", "确保人民群众生命安全和身体健康。"
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text(f"前言一\n{s + x1}\n", encoding="utf-8")
    (corpus / "b.txt").write_text(f"前言二\n{s + x2}\n", encoding="utf-8")
    db = tmp_path / "s.db"
    scan(corpus, ScanConfig(workers=1), db)
    repeat = "一段全新的文字，与语料中的任何内容都不相同，长度也足够了。"
    answers = StoredIndex(db).query(f"{s}\n{repeat}\n{repeat}")
    # the scan of the text as a last file: the first line joins a.txt's cluster (first in
    # corpus order), the third repeats the second
    truth = copies_by_scan(corpus, f"{s}\n{repeat}\n{repeat}\n", tmp_path)
    mine = {a.line_start: f"{a.relation} {a.canonical['document']}:{a.canonical['line_start']}" for a in answers if a.status == "copy"}
    assert mine == {line: where.replace("zzz.txt", "(this text)") for line, where in truth.items()}
    mine = {line: where.split(" ", 1)[1] for line, where in mine.items()}
    assert mine == {1: "a.txt:2", 3: "(this text):2"}


def test_a_batch_and_a_removal_over_http_equal_a_full_scan(served, tmp_path):
    """POST /documents with a list stores it in one transaction, in order; DELETE drops a
    document as ``dedup remove`` does; both need the token; after them the database is a
    full scan of the same documents (posted ones as files named by their ids, after the corpus)."""
    from helpers import scan_result

    server, corpus, db = served
    lines = [s.read_text(encoding="utf-8").splitlines() for s in SEEDS]
    texts = {4: "\n".join(lines[4]), 5: "\n".join(lines[0][::2] + lines[1][:5]), 6: "\n".join(lines[2][::-1]), 7: "\n".join(lines[3][1::3] + lines[4][:3])}
    batch = [{"text": texts[i], "id": f"zz-{i}.txt"} for i in (4, 5, 6)]
    assert server.post("/documents", {"documents": batch}, token=None)[0] == 401
    status, bad = server.post("/documents", {"documents": [{"id": "x"}]})
    assert status == 422 and bad["error"].startswith("invalid request: body.documents.0.text"), bad
    status, dup = server.post("/documents", {"documents": [batch[0], batch[0]]})
    assert status == 400 and "same id" in dup["error"]
    status, added = server.post("/documents", {"documents": batch})
    assert status == 200 and [d["path"] for d in added["documents"]] == [d["id"] for d in batch]
    assert {p["status"] for p in added["documents"][1]["paragraphs"]} >= {"copy"}
    first = added["documents"][0]["id"]
    assert server.request("DELETE", f"/documents/{first}")[0] == 401
    status, removed = server.request("DELETE", f"/documents/{first}", token=TOKEN)
    assert status == 200 and removed["removed"] == first
    assert server.request("DELETE", f"/documents/{first}", token=TOKEN)[0] == 404
    status, again = server.post("/documents", {"text": texts[7], "id": "zz-7.txt"})
    assert status == 200
    status, query = server.post("/query", {"text": texts[7]}, token=None)
    from dedup.store.lookup import StoredIndex

    # the server's index, advanced by the writes, answers as one built afresh
    assert query["paragraphs"] == [{k: v for k, v in a.as_dict().items() if k != "text"} for a in StoredIndex(db).query(texts[7])]
    assert "copy" in {p["status"] for p in query["paragraphs"]}
    for i in (5, 6, 7):
        (corpus / f"zz-{i}.txt").write_text(texts[i], encoding="utf-8")
    full = tmp_path / "full.db"
    scan(corpus, ScanConfig(workers=1), full, full=True)
    assert scan_result(db) == scan_result(full)
