"""``POST /query`` answered by ``service.FastQuery`` (no FastAPI routing, validation or
serialization on the way) is the FastAPI route's answer: the same status and the same JSON,
for texts that copy the corpus, new texts, and bodies the route refuses."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from helpers import asgi_call, derandomized, scanned_seeds
from dedup.apps import service

SEEDS = sorted((Path(__file__).resolve().parents[2] / "data" / "seeds").iterdir())
LINES = [line for path in SEEDS[:5] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    _, db = scanned_seeds(tmp_path_factory.mktemp("fast"), SEEDS[:3])
    return service.create_app(db, token=None)


def call(app, body: bytes, content_type: bytes | None = b"application/json") -> tuple[int, bytes]:
    """One POST /query to the ASGI app: (status, body)."""
    headers = [(b"content-length", str(len(body)).encode())] + ([(b"content-type", content_type)] if content_type else [])
    return asgi_call(app, "POST", "/query", body, headers)


def both(app, monkeypatch, body: bytes, content_type: bytes | None = b"application/json"):
    """(the answer with FastQuery, the route's answer), each as (status, parsed JSON)."""
    fast = call(app, body, content_type)
    with monkeypatch.context() as mp:
        mp.setattr(service, "_query_text", lambda body: None)  # FastQuery hands every request on
        routed = call(app, body, content_type)
    return (fast[0], json.loads(fast[1])), (routed[0], json.loads(routed[1]))


texts = st.lists(st.one_of(st.sampled_from(LINES), st.text(min_size=1, max_size=80)), min_size=1, max_size=4).map("\n".join)


@given(texts, st.booleans())
@derandomized(60, HealthCheck.function_scoped_fixture)
def test_fast_queries_answer_as_the_route(app, monkeypatch, text, with_orjson):
    if not with_orjson:
        monkeypatch.setattr(service, "_orjson", None)
    fast, routed = both(app, monkeypatch, json.dumps({"text": text}).encode())
    assert fast == routed
    assert fast[0] == 200


def test_the_queries_compared_hold_copies_and_take_the_fast_path(app, monkeypatch):
    """A test that could fail: the texts above find copies, not only new paragraphs, and
    FastQuery answered them itself."""
    answered = []
    monkeypatch.setattr(service, "query_json", lambda served, text: answered.append(text) or service_query_json(served, text))
    status, body = call(app, json.dumps({"text": "\n".join(random.Random(1).sample(LINES, 3))}).encode())
    assert status == 200 and any(p["status"] == "copy" and p["canonical"]["document"] for p in json.loads(body)["paragraphs"])
    assert len(answered) == 1


service_query_json = service.query_json


@pytest.mark.parametrize("body, content_type", [
    (b'{"text": 3}', b"application/json"),
    (b'{"txt": "a"}', b"application/json"),
    (b'["text"]', b"application/json"),
    (b'{"text": "half \\ud800 of a pair"}', b"application/json"),
    (b'{"text": "not json', b"application/json"),
    (b'{"text": "plain"}', b"text/plain"),
    (b'{"text": "no content type"}', None),
    (b'{"text": "vendor json"}', b"application/vnd.example+json; charset=utf-8"),
])
def test_bodies_the_route_refuses_are_refused_as_it_does(app, monkeypatch, body, content_type):
    fast, routed = both(app, monkeypatch, body, content_type)
    assert fast == routed
