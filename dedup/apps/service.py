"""The HTTP service (``dedup serve DB``): ask a scan whether a text was seen, and add documents.

Built on FastAPI (OpenAPI schema at ``/openapi.json``, docs at ``/docs``), served by uvicorn.

* ``POST /query`` checks a text without storing it: per paragraph, new or a copy, with the
  canonical's document and lines, the similarity and the relation (``lookup.StoredIndex``: what
  a scan would say of the text added after the corpus).
* ``POST /documents`` adds a document, or a list of them (``{"documents": [...]}``, one
  transaction), needs the token: the database ends exactly as ``dedup add`` would leave it
  (clusters as a full scan would make them, cluster ids kept), at the cost of the documents
  (``engines/writes.py`` and ``delta.py``), and the answer is read back from it. A document is
  stored under the source ``~api/SEQUENCE/ID``, which sorts after the corpus's file names: it
  counts as newer. ``DELETE /documents/{id}`` drops one as ``dedup remove`` does.
* ``GET /clusters/{id}``, ``/documents/{id}``, ``/paragraphs/{id}``, ``/stats``, ``/healthz``.

Readers never wait for a writer: the database is switched to WAL on start, every request opens
its own connection, and writes are serialized (one at a time), in a child process by default
(``writer="process"``) so that their work never holds the interpreter lock the queries need;
the query index follows each write by the keys it touched (``Served``). Writes need
the token given to the server (``--token`` or ``DEDUP_TOKEN``), sent as ``Authorization:
Bearer TOKEN``; without a configured token the server is read-only. Every error is a JSON
object ``{"error": "..."}`` with a 4xx status; request bodies over ``max_body`` bytes get 413.
A write that finds no room on the disk gets 507 (Insufficient Storage) naming the file: the
update is rolled back, and queries go on being answered from the database as it was.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Path as PathParam, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from pydantic import AfterValidator, BaseModel, Field

from ..errors import DatabaseError, DedupError, WriteError, writing
from ..engines.writes import Posted, WriterProcess, Writes
from ..store.lookup import StaleIndex, StoredIndex
from ..store.writer import connect_read_only, open_existing
from ..store.summary import cluster_detail, summarize

MAX_BODY = 1 << 20  # bytes of a request body, by default
def _row_id():
    """A path parameter that is a row id (a new one per parameter: FastAPI keeps state in it)."""
    return PathParam(ge=1, le=2**63 - 1, description="A row id of the database (SQLite integers are 64-bit).")


def _encodable(value: str) -> str:
    """A lone surrogate (half of a \\uXXXX pair) is valid JSON but not text."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("holds a lone surrogate escape (half of a \\uXXXX pair), which is not text") from None
    return value


Text = Annotated[str, AfterValidator(_encodable)]


def _encodable_meta(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Metadata is stored as JSON text: a lone surrogate in any key or value (found by the
    fuzzing: a 500) is refused like one in the text."""
    if value is not None:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except RecursionError:  # the parser takes deeper nesting than this thread's stack
            raise ValueError("is nested too deeply; keep metadata under a few hundred levels") from None
        _encodable(text)
    return value


def _date(value: str) -> str:
    from ..sources.records import parse_date

    try:
        parse_date(value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError("not an ISO 8601 date or a Unix time") from None
    return value


class QueryIn(BaseModel):
    text: Text = Field(description="The text to check; split into paragraphs as a scan splits a document.")


class DocumentIn(BaseModel):
    text: Text = Field(description="The document's text.")
    id: Text | None = Field(default=None, min_length=1, max_length=500, description="Its id (default: a hash of the text); a document with the same id is replaced.")
    date: Annotated[str, AfterValidator(_date)] | None = Field(default=None, max_length=100, description="ISO 8601 date or Unix time, for the earliest policy.")
    meta: Annotated[dict[str, Any] | None, AfterValidator(_encodable_meta)] = Field(default=None, description="Anything to keep with it.")


class DocumentsIn(BaseModel):
    documents: list[DocumentIn] = Field(min_length=1, max_length=100_000, description="Documents stored in order, in one transaction.")


class Canonical(BaseModel):
    paragraph_id: int | None = Field(description="None when the canonical is an earlier paragraph of the text itself")
    document: str
    line_start: int
    line_end: int


class ParagraphOut(BaseModel):
    idx: int
    line_start: int
    line_end: int
    status: str = Field(description="copy, or new")
    relation: str | None = Field(default=None, description="exact, near or contained (for a copy)")
    similarity: float | None = None
    containment: float | None = None
    cluster_id: int | None = None
    canonical: Canonical | None = None


class QueryOut(BaseModel):
    paragraphs: list[ParagraphOut]


class DocumentOut(BaseModel):
    id: int
    path: str
    paragraphs: list[ParagraphOut]


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]


class ErrorOut(BaseModel):
    error: str


ERRORS = {400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut}}
WRITE_ERRORS = ERRORS | {507: {"model": ErrorOut, "description": "No room on the server's disk: nothing was stored"}}


class BodyLimit:
    """ASGI middleware: a body larger than ``limit`` bytes gets 413, read no further."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _too_large(self.limit, send)
        # read the whole body first (bounded), then hand it on: an exception raised while the
        # app reads would be caught by FastAPI's body parsing and turned into a 400
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.limit:
                return await _too_large(self.limit, send)
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        return await self.app(scope, _replay(b"".join(chunks), receive), send)


class FastQuery:
    """ASGI middleware: ``POST /query`` answered without FastAPI's routing, validation and
    serialization (~1.5 ms of a core a request, three times the lookup itself), when the body
    is what ``QueryIn`` takes: a JSON object whose ``text`` is a string that is text. Anything
    else, or a query that fails, goes on to the FastAPI route, which answers it as it always
    did (the same 422s, the same error JSON); the answer is the route's, field for field
    (``query_json``). orjson parses and writes the JSON when it is installed."""

    def __init__(self, app, served: "Served"):
        self.app, self.served = app, served

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/query" or not _json_body(scope):
            return await self.app(scope, receive, send)
        body = await _whole_body(receive)
        text = _query_text(body)
        answer = None
        if text is not None:
            from starlette.concurrency import run_in_threadpool

            try:
                answer = await run_in_threadpool(query_json, self.served, text)
            except Exception:  # the route answers it again, with the error handlers' JSON
                answer = None
        if answer is None:
            return await self.app(scope, _replay(body, receive), send)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})


def _json_body(scope) -> bool:
    """Does the request say its body is JSON, as FastAPI reads a body (one without a content
    type is refused there)?"""
    for name, value in scope.get("headers") or ():
        if name == b"content-type":
            kind = value.split(b";")[0].strip().lower()
            return kind == b"application/json" or (kind.startswith(b"application/") and kind.endswith(b"+json"))
    return False


async def _whole_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive):
    """A ``receive`` that gives ``body`` again, then what ``receive`` gives."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


try:
    import orjson as _orjson
except ImportError:  # the service extra installs it; without it the standard library's
    _orjson = None


def _loads(body: bytes):
    return _orjson.loads(body) if _orjson is not None else json.loads(body)


def _dumps(value) -> bytes:
    if _orjson is not None:
        return _orjson.dumps(value, option=_orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def _query_text(body: bytes) -> str | None:
    """The ``text`` of a body ``QueryIn`` takes as it stands, or None (the route decides)."""
    try:
        value = _loads(body)
    except (ValueError, RecursionError):
        return None
    text = value.get("text") if isinstance(value, dict) else None
    if type(text) is not str:
        return None
    try:
        _encodable(text)
    except ValueError:
        return None
    return text


_PARAGRAPH_FIELDS = tuple(ParagraphOut.model_fields)
_CANONICAL_FIELDS = tuple(Canonical.model_fields)


def query_json(served: "Served", text: str) -> bytes:
    """The body ``POST /query`` answers for ``text``: ``QueryOut`` as the route serializes it
    (every field, in the model's order)."""
    out = []
    for answer in served.answer(text):
        row = {name: getattr(answer, name) for name in _PARAGRAPH_FIELDS}
        if row["canonical"] is not None:
            row["canonical"] = {name: row["canonical"][name] for name in _CANONICAL_FIELDS}
        out.append(row)
    return _dumps({"paragraphs": out})


async def _too_large(limit: int, send) -> None:
    body = json.dumps({"error": f"request body over {limit:,} bytes; send smaller documents"}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def create_app(db_path: str | Path, token: str | None = None, max_body: int = MAX_BODY, writer: str = "process") -> FastAPI:
    """The FastAPI application serving the scan in ``db_path``; writes run in a child process
    (``writer="process"``, ``writes.WriterProcess``) or in the request's thread (``"thread"``)."""
    db_path = Path(db_path)
    if token is not None and not token.isascii():
        raise DedupError("the token must be ASCII (HTTP headers are read as Latin-1); choose another")
    _prepare_database(db_path)
    # the live corpus is loaded now when writes are allowed
    served = Served(db_path, (WriterProcess(db_path) if writer == "process" else Writes(db_path)) if token else None)

    app = FastAPI(title="dedup", description=__doc__.split("\n\n")[0], version=_version())
    app.add_middleware(FastQuery, served=served)  # inside BodyLimit: the limit holds for it too
    app.add_middleware(BodyLimit, limit=max_body)
    _add_error_handlers(app)

    require_token = _token_check(token)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/stats", responses=ERRORS)
    def stats() -> dict:
        return _stats(db_path)

    @app.post("/query", response_model=QueryOut, responses=ERRORS)
    def query(body: QueryIn) -> dict:
        return {"paragraphs": [_out(a.as_dict()) for a in served.answer(body.text)]}

    @app.post("/documents", response_model=DocumentOut | DocumentsOut, responses=WRITE_ERRORS, dependencies=[Depends(require_token)])
    def add_documents(body: DocumentIn | DocumentsIn) -> dict:
        """One document, or a list of them (``{"documents": [...]}``) stored in one transaction."""
        many = isinstance(body, DocumentsIn)
        items = body.documents if many else [body]
        done = served.written(lambda w: w.post([Posted(d.text, d.id, d.date, d.meta) for d in items]))
        out = [_document(db_path, source=source) for source in done.sources]
        return {"documents": out} if many else out[0]

    @app.delete("/documents/{document_id}", responses=WRITE_ERRORS, dependencies=[Depends(require_token)])
    def remove_document(document_id: int = _row_id()) -> dict:
        """Drop a document as ``dedup remove`` does (the clusters it was in are made again)."""
        try:
            source = served.written(lambda w: w.remove(document_id))
        except LookupError:
            raise HTTPException(404, f"no document {document_id}") from None
        return {"removed": document_id, "source": source}

    @app.get("/documents/{document_id}", response_model=DocumentOut, responses=ERRORS)
    def get_document(document_id: int = _row_id()) -> dict:
        return _document(db_path, doc_id=document_id)

    @app.get("/paragraphs/{paragraph_id}", responses=ERRORS)
    def get_paragraph(paragraph_id: int = _row_id()) -> dict:
        return _paragraph(db_path, paragraph_id)

    @app.get("/clusters/{cluster_id}", responses=ERRORS)
    def get_cluster(cluster_id: int = _row_id()) -> dict:
        return _cluster(db_path, cluster_id)

    return app


def _token_check(token: str | None):
    """The dependency every write declares: the configured token, sent as a bearer token."""

    def require_token(authorization: str | None = Header(default=None)) -> None:
        if not token:
            raise HTTPException(403, "this server is read-only: start it with --token or DEDUP_TOKEN to allow writes")
        if not hmac.compare_digest((authorization or "").encode("latin-1", "replace"), f"Bearer {token}".encode("latin-1", "replace")):
            raise HTTPException(401, "missing or wrong token: send 'Authorization: Bearer TOKEN'", headers={"WWW-Authenticate": "Bearer"})

    return require_token


class Served:
    """The query index of a served database, kept at its latest run, and the writes to it."""

    def __init__(self, db_path: Path, writes: Writes | WriterProcess | None):
        self.db_path, self.writes = db_path, writes
        self.index = _frozen(StoredIndex(db_path))
        self.lock = threading.Lock()  # held while the index is replaced

    def answer(self, text: str) -> list:
        """The lookup, with an index rebuilt when the database moved on (an update by ``dedup
        add``/``scan`` from outside; this server's writes replace it as they commit)."""
        for _ in range(3):
            index = self.index
            try:
                return index.query(text)
            except StaleIndex:
                with self.lock:
                    if self.index is index:
                        self.index = _frozen(StoredIndex(self.db_path))
        return self.index.query(text)

    def written(self, write) -> Any:
        """Run ``write(writes)`` and bring the query index to the database after it: advanced
        by the keys an append touched, or built again after any other write. Queries that see
        the database moved on wait for it (``lock``), the others go on."""
        with self.lock:
            index = self.index
            try:
                return write(self.writes)
            except DatabaseError as e:
                raise HTTPException(409, str(e)) from None
            finally:
                if _last_run(self.db_path) != index.run_id:
                    done = self.writes.last
                    fresh = done is not None and done.reclustered is not None and done.run == index.run_id + 1
                    self.index = index.advanced(done.reclustered) if fresh else _frozen(StoredIndex(self.db_path))


def _prepare_database(db_path: Path) -> None:
    """Check the database now (a clear error at start, not at the first request), switch it to
    WAL so that readers never wait for a write, and add the index lookups use."""
    open_existing(db_path).conn.close()
    conn = sqlite3.connect(db_path)
    try:
        with writing(db_path, "the database (switched to WAL for serving)", "point --db elsewhere"):
            conn.execute("PRAGMA journal_mode = WAL")
            # lookups find a key's paragraphs by key_id (databases written before the index existed)
            conn.execute("CREATE INDEX IF NOT EXISTS idx_paragraphs_key_id ON paragraphs (key_id)")
            conn.commit()
    finally:
        conn.close()


def _add_error_handlers(app: FastAPI) -> None:
    """Every error as JSON ``{"error": message}``: HTTP errors, invalid requests (422), library
    errors (400, 404 for a database problem, 507 for a full disk) and bugs (500, no traceback)."""

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own (404, 405) and ours
    async def http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in _branch_errors(exc))
        return JSONResponse({"error": f"invalid request: {problems}"}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # a bug: say so, without a traceback
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); please report it"}, status_code=500)

    @app.exception_handler(DedupError)
    async def dedup_error(request: Request, exc: DedupError):
        if isinstance(exc, WriteError):  # the update was rolled back; the index is the one before it
            message = f"{exc.path}: cannot write {exc.what}: {exc.reason}; nothing was stored: free space on the server's disk, then send it again"
            return JSONResponse({"error": message}, status_code=507)
        return JSONResponse({"error": str(exc)}, status_code=404 if isinstance(exc, DatabaseError) else 400)


def _branch_errors(exc: RequestValidationError) -> list[dict]:
    """The errors of a body that may be one document or a list of them, told as the shape the
    body has (a ``documents`` list or not), without the model names pydantic adds to a union."""
    errors = exc.errors()
    branches = {"DocumentIn", "DocumentsIn"}
    if not any(len(e.get("loc", ())) > 1 and e["loc"][1] in branches for e in errors):
        return errors
    wanted = "DocumentsIn" if isinstance(exc.body, dict) and "documents" in exc.body else "DocumentIn"
    return [dict(e, loc=(e["loc"][0], *e["loc"][2:])) for e in errors if len(e.get("loc", ())) > 1 and e["loc"][1] == wanted] or errors


def _stats(db_path: Path) -> dict:
    db = open_existing(db_path)
    try:
        s = summarize(db)
    finally:
        db.conn.close()
    return {k: v for k, v in s.__dict__.items() if k != "top"} | {"duplicate_share": s.duplicate_share}


def _paragraph(db_path: Path, paragraph_id: int) -> dict:
    conn = _read(db_path)
    try:
        row = conn.execute(
            """SELECT p.id, d.id, d.path, p.idx, p.line_start, p.line_end, p.text, p.cluster_id, m.relation, m.similarity, m.containment
               FROM paragraphs p JOIN documents d ON d.id = p.doc_id LEFT JOIN members m ON m.paragraph_id = p.id WHERE p.id = ?""",
            (paragraph_id,),
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        raise HTTPException(404, f"no paragraph {paragraph_id}")
    names = ("id", "document_id", "document", "idx", "line_start", "line_end", "text", "cluster_id", "relation", "similarity", "containment")
    return dict(zip(names, row))


def _cluster(db_path: Path, cluster_id: int) -> dict:
    db = open_existing(db_path)
    try:
        view = cluster_detail(db, cluster_id)
    finally:
        db.conn.close()
    return {
        "id": view.cluster_id,
        "reason": view.reason,
        "n_documents": view.n_documents,
        "boilerplate": view.boilerplate,
        "members": [m.__dict__ for m in view.members],
    }


def _version() -> str:
    from .. import __version__

    return __version__


def _read(db_path: Path) -> sqlite3.Connection:
    return connect_read_only(db_path)


def _out(answer: dict) -> dict:
    answer = dict(answer)
    answer.pop("text", None)
    return answer


def _frozen(index: StoredIndex) -> StoredIndex:
    """``index``, with every object alive now moved out of the garbage collector's way (a full
    collection walking an index's dicts paused requests now and then)."""
    import gc

    gc.collect()
    gc.freeze()
    return index


def _last_run(db_path: Path) -> int:
    conn = _read(db_path)
    try:
        return conn.execute("SELECT max(id) FROM runs").fetchone()[0]
    finally:
        conn.close()


def _document(db_path: Path, *, doc_id: int | None = None, source: str | None = None) -> dict:
    conn = _read(db_path)
    try:
        where, arg = ("d.id = ?", doc_id) if doc_id is not None else ("d.source = ?", source)
        doc = conn.execute(f"SELECT d.id, d.path FROM documents d WHERE {where}", (arg,)).fetchone()
        if doc is None:
            raise HTTPException(404, f"no document {doc_id if doc_id is not None else source}")
        rows = conn.execute(
            """SELECT p.idx, p.line_start, p.line_end, m.relation, m.similarity, m.containment, m.cluster_id,
                      cp.id, cd.path, cp.line_start, cp.line_end
               FROM paragraphs p LEFT JOIN members m ON m.paragraph_id = p.id
               LEFT JOIN clusters c ON c.id = m.cluster_id LEFT JOIN paragraphs cp ON cp.id = c.canonical_id
               LEFT JOIN documents cd ON cd.id = cp.doc_id
               WHERE p.doc_id = ? ORDER BY p.idx""",
            (doc[0],),
        ).fetchall()
    finally:
        conn.close()
    paragraphs = []
    for idx, start, end, relation, sim, con, cid, cpid, cpath, cstart, cend in rows:
        copy = relation is not None and relation != "canonical"
        paragraphs.append({
            "idx": idx, "line_start": start, "line_end": end, "status": "copy" if copy else "new",
            "relation": relation if copy else None, "similarity": sim if copy else None, "containment": con if copy else None,
            "cluster_id": cid,
            "canonical": {"paragraph_id": cpid, "document": cpath, "line_start": cstart, "line_end": cend} if copy else None,
        })
    return {"id": doc[0], "path": doc[1], "paragraphs": paragraphs}


__all__ = ["create_app", "DedupError"]
