"""Web input: HTML files and web archives (WARC), turned into documents of plain text.

* HTML text comes from ``html-text`` (Zyte's extractor on lxml): scripts, styles and tags never
  become text, and block elements (``<p>``, ``<div>``, ``<li>``, ``<br>``...) end a line, so
  the paragraph splitter sees one paragraph per block, as in a text dump. Regexes cannot do
  this: they mistake ``a < b`` for a tag and keep a script's code.
* A WARC file (``.warc``, ``.warc.gz``) is read with ``warcio``: every ``response`` record whose
  payload is HTML is one document, its path the record's ``WARC-Target-URI``, its date the
  ``WARC-Date`` (for the ``earliest`` canonical policy), its ``record`` its position among the
  file's records. Transfer and content encodings (chunked, gzip) are undone by warcio.

Bytes are decoded as text files are (``corpus.decode_bytes``: UTF-8, GB18030, Big5, UTF-16).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

from .corpus import CorpusFileError, Document, UnreadableFileError, cannot_read, decode_bytes, open_regular, reader_of, read_bytes, relative_path, shown

# How an HTML document opens: a doctype or <html>, after blanks, an XML declaration, comments
_HTML_START = re.compile(r"\ufeff?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.I | re.S)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # characters XML (so lxml) cannot hold


class WarcError(CorpusFileError):
    """A WARC file, or one of its records, cannot be read."""


def is_html_name(name: str) -> bool:
    return reader_of(name) == "html"


def is_warc_name(name: str) -> bool:
    return reader_of(name) == "warc"


def looks_like_html(text: str) -> bool:
    """Does a decoded file open as an HTML document does? What a file without a suffix must
    show to be read as HTML (``sources.read_sniffed``); a fragment such as ``<p>a</p>`` does
    not: text with some tags stays text (the ``strip_html`` step cleans its keys).

        >>> looks_like_html("<!DOCTYPE html>\\n<html>"), looks_like_html("  <!-- saved -->\\n<HTML lang=zh>")
        (True, True)
        >>> looks_like_html("<p>a</p>"), looks_like_html("Format: https://www.debian.org/doc/")
        (False, False)
    """
    return _HTML_START.match(text, 0, 8192) is not None


def html_to_text(html: str) -> str:
    """The visible text of an HTML page, one block element a line, blank lines between paragraphs.

        >>> html_to_text("<p>第一段</p><script>var a = 1;</script><p>a &lt; b</p>")
        '第一段\\n\\na < b'
    """
    import html_text

    if not html.strip():
        return ""
    # lxml refuses text with control characters (a ValueError deep in its cleaner); they are
    # no visible text, and where one stood a space keeps the words apart
    return html_text.extract_text(_NOT_XML.sub(" ", html), guess_layout=True)


def read_html(path: Path, root: Path) -> Document:
    """Read, decode and extract one HTML file; raises ``CorpusFileError`` subclasses naming it."""
    rel, data = read_bytes(path, root)
    text, encoding = decode_bytes(data, name=rel)
    return Document(rel, html_to_text(text), encoding, len(data), hashlib.sha1(data).hexdigest(), source=rel)


def _is_html_response(record) -> bool:
    if record.rec_type != "response":
        return False
    http = record.http_headers
    content_type = (http.get_header("Content-Type") if http is not None else None) or ""
    return "html" in content_type.lower()


def _starts_like_warc(stream) -> bool:
    """Does the (possibly gzipped) stream open with a WARC version line? Rewinds it."""
    head = stream.read(2)
    stream.seek(0)
    if head == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=stream) as unzipped:
                head = unzipped.read(8)
        except (OSError, EOFError, zlib.error):
            head = b""
        stream.seek(0)
    else:
        head = stream.read(8)
        stream.seek(0)
    return head.startswith(b"WARC/")


def read_warc(path: Path, root: Path) -> Iterator[Document | CorpusFileError]:
    """Every HTML response of a WARC file as a document, in file order.

    A record whose payload cannot be decoded is yielded as its error (``FILE#N``), so the scan
    decides whether it stops or skips it; a broken archive raises ``WarcError``.
    """
    rel = relative_path(path, root)
    try:
        stream = open_regular(path)  # a FIFO would block
    except OSError as error:
        raise UnreadableFileError(rel, cannot_read(error, "file")) from None
    number = 0
    # warcio reads anything, warning on stderr about what it could not parse: check the header
    # first, and keep its warnings (about damaged records, which are passed over) off stderr.
    with stream, contextlib.redirect_stderr(io.StringIO()):
        if not _starts_like_warc(stream):
            raise WarcError(rel, "not a WARC file (it does not start with a WARC/1.x record); rename or remove it, or pass --skip-bad")
        records = _records(stream)
        while True:
            try:
                item = next(records, None)
            except Exception as error:  # noqa: BLE001 - warcio fails on damaged bytes in many ways (AttributeError, zlib.error...)
                detail = shown(f"{type(error).__name__}: {error}")[:200]  # it may quote the damaged bytes
                raise WarcError(rel, f"not a readable WARC file after record {number} ({detail}); repair or remove it, or pass --skip-bad") from None
            if item is None:
                return
            number, data, headers = item
            if data is None:
                continue
            where = f"{rel}#{number}"
            try:
                text, encoding = decode_bytes(data, name=where)
            except CorpusFileError as error:
                yield error
                continue
            uri = headers["WARC-Target-URI"] or where
            meta = {"warc_record_id": headers["WARC-Record-ID"], "uri": uri}
            yield Document(
                uri,
                html_to_text(text),
                encoding,
                len(data),
                hashlib.sha1(data).hexdigest(),
                source=rel,
                record=number,
                date=headers["WARC-Date"],
                meta=json.dumps(meta, ensure_ascii=False, sort_keys=True),
            )


def _records(stream) -> Iterator[tuple[int, bytes | None, dict]]:
    """(position, payload or None when it is no HTML response, headers) of every record: the
    part warcio does, where a damaged archive raises whatever its parsers raise."""
    from warcio.archiveiterator import ArchiveIterator

    for number, record in enumerate(ArchiveIterator(stream), start=1):
        if not _is_html_response(record):
            yield number, None, {}
            continue
        data = record.content_stream().read()
        yield number, data, {name: record.rec_headers.get_header(name) for name in ("WARC-Target-URI", "WARC-Date", "WARC-Record-ID")}
