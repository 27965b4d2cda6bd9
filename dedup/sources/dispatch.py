"""Which reader reads an input file, and the documents of a whole folder: the one dispatch
over the readers (corpus.py for text files and the listing, webpage.py for HTML and WARC,
records.py for JSON Lines, tabular.py for Parquet and CSV), so that none of them imports
another's reader.

A file whose name no reader claims, and that no suffix rules out, is *sniffed*
(``read_sniffed``): see corpus.py for why at read time and on its first 8 KiB.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from .corpus import (
    BINARY_SNIFF_BYTES, NOT_TEXT, BinaryFileError, CorpusFileError, Document, NotTextError, Skipped, UndecodableError,
    as_path, decode_bytes, decode_start, list_files, read_bytes, read_document, reader_of, relative_path,
)  # fmt: skip
from .records import RecordFields, read_records
from .selection import Selection
from .tabular import read_table
from .webpage import html_to_text, looks_like_html, read_html, read_warc


def sniffs_as_html(head: bytes) -> bool:
    """Do the first 8 KiB of a file no suffix names open like an HTML document? The one test of
    the scan (``read_sniffed``) and of ``clean``, which must not cut lines out of markup."""
    text = decode_start(head[:BINARY_SNIFF_BYTES])
    return text is not None and looks_like_html(text)


def read_sniffed(path: Path, root: Path) -> Document:
    """Read a file that no suffix says is text (nor says is not): as a text file when its first
    8 KiB hold no NUL byte and decode, as an HTML file (its text extracted) when they open like
    an HTML document, since mirrored pages are often saved without a suffix and their scripts
    and tags must not become paragraphs. Past that start it is a text file like any other: an
    undecodable byte further on is ``UndecodableError``, which stops a scan without --skip-bad.

    Raises ``BinaryFileError`` or ``NotTextError`` (always skipped), ``UnreadableFileError``,
    ``UndecodableError``; a file the sniff rejects is not read past its first 8 KiB.
    """
    rel, data = read_bytes(path, root, sniff=True)
    try:
        text, encoding = decode_bytes(data, name=rel)
    except UndecodableError:
        if len(data) < BINARY_SNIFF_BYTES:  # the whole file was its start
            raise NotTextError(rel, NOT_TEXT) from None
        raise
    if sniffs_as_html(data):
        text = html_to_text(text)
    return Document(rel, text, encoding, len(data), hashlib.sha1(data).hexdigest(), source=rel)


def read_file(path: Path, root: Path, fields=None) -> Iterator[Document | CorpusFileError]:
    """The documents of one input file of any kind, in order; the reader is ``reader_of`` its
    name, and a file that has none (listed because nothing rules it out, or an ``--include``
    names it) is sniffed.

    A file that cannot be read at all raises; a JSONL record, table row or WARC response that
    cannot be used is yielded as its error, so the caller decides whether it stops or is skipped.
    ``fields`` (``records.RecordFields``) says where a record or row keeps its text, id and date.
    """
    path, root = as_path(path), as_path(root)
    kind = reader_of(path.name)
    if kind == "jsonl":
        yield from read_records(path, relative_path(path, root), fields or RecordFields())
    elif kind == "table":
        yield from read_table(path, relative_path(path, root), fields or RecordFields())
    elif kind == "warc":
        yield from read_warc(path, root)
    elif kind == "html":
        yield read_html(path, root)
    elif kind == "text":
        yield read_document(path, root)
    else:
        yield read_sniffed(path, root)


def iter_documents(
    root: str | os.PathLike,
    *,
    skip_bad: bool = False,
    on_skip: Callable[[Skipped], None] | None = None,
    fields=None,
    selection: Selection = Selection(),
) -> Iterator[Document]:
    """Yield every ``Document`` of the input files below ``root`` (``list_files`` with
    ``selection``), one file at a time, in path order.

    Binary files (and sniffed files that are not text) are always skipped. Undecodable and
    unreadable files (and folders) raise, unless ``skip_bad``: then they are skipped too.
    Every skip is reported to ``on_skip``.
    """
    root = Path(root)

    def skip(skipped: Skipped) -> None:
        if on_skip is not None:
            on_skip(skipped)

    for path in list_files(root, on_error=skip if skip_bad else None, selection=selection):
        try:
            for item in read_file(path, root, fields):
                if isinstance(item, CorpusFileError):
                    if not skip_bad:
                        raise item
                    skip(Skipped(item.path, item.reason))
                else:
                    yield item
        except BinaryFileError as error:
            skip(Skipped(error.path, error.reason))
        except CorpusFileError as error:
            if not skip_bad:
                raise
            skip(Skipped(error.path, error.reason))
