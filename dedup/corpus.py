"""Source stage: find the input files under a folder and decode each one into ``Document``s.

Inputs, by suffix (case-blind): ``.txt`` and ``.md`` (one file, one document); ``.html``,
``.htm``, ``.xhtml`` (text extracted, see webpage.py); ``.jsonl``, ``.ndjson`` and their ``.gz``
(one record, one document, see records.py); ``.warc`` and ``.warc.gz`` (one HTML response, one
document); ``.parquet``, ``.csv`` and ``.tsv`` (one row, one document, see tabular.py).
``read_file`` gives the documents of any of them; the scan cuts JSONL into line batches and
tables into batches of rows for its workers instead.

Decoding, in order (``decode_bytes``):

1. A byte-order mark decides: UTF-8 BOM -> ``utf-8-sig``; UTF-16 LE/BE BOM -> ``utf-16``.
2. A NUL byte in the first 8 KiB (and no UTF-16 BOM) means a binary file: ``BinaryFileError``.
3. Strict UTF-8, with no scoring: most files are UTF-8 and this is the fast path.
4. Strict GB18030 and strict Big5 (Big5-HKSCS when plain Big5 fails, which also covers most of
   Microsoft's cp950). Wrong legacy decodings usually still succeed - almost any byte pair is
   valid GB18030 - so each decoding that succeeds is scored by ``common_share`` and the best one
   wins (GB18030 on a tie). Below ``MIN_SCORE``, or when nothing decodes: ``UndecodableError``.

Finally ``"\\r\\n"`` and lone ``"\\r"`` become ``"\\n"``; no other character is touched, so
``"\\x0c"``, ``"\\x85"`` or ``"\\u2028"`` stay in the text (split lines on ``"\\n"``, not with
``str.splitlines``, to keep line numbers in step with the file).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dedup.errors import CorpusError

TEXT_SUFFIXES = (".txt", ".md")
INPUT_KINDS = "text (.txt .md), HTML (.html .htm .xhtml), JSON Lines (.jsonl .ndjson, or gzipped), WARC (.warc .warc.gz), Parquet (.parquet) and CSV (.csv .tsv) files"
INPUT_SUFFIXES = TEXT_SUFFIXES + (".html", ".htm", ".xhtml", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".warc", ".warc.gz")
INPUT_SUFFIXES += (".parquet", ".csv", ".tsv")  # tabular.TABLE_SUFFIXES

BINARY_SNIFF_BYTES = 8192  # a NUL byte this early, without a UTF-16 BOM, means a binary file
MIN_SCORE = 0.5  # a legacy decoding must score at least this with common_share to be accepted
_PRIOR = 2  # characters of doubt added to every score, so a handful of ideographs prove little

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

# CJK ideographs: Unified, Extension A, Compatibility, and the supplementary planes (Ext. B on).
_IDEOGRAPH = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")
# What a wrong GB18030/Big5 decoding produces besides rare ideographs, and real Chinese prose
# hardly contains: private use (unmapped and user-defined code points), Greek and Cyrillic, box
# drawing, kana and bopomofo - the symbol rows of the other encoding.
# Characters a path keeps out of a one-line message: controls, line separators, escaped bytes.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_SUSPECT = re.compile("[\u0370-\u04ff\u2500-\u257f\u3040-\u30ff\u3100-\u312f\ue000-\uf8ff]")

_BINARY = "binary file (NUL bytes), skipped"
_BAD_NAME = "name is not valid UTF-8; rename it (convmv -f gbk -t utf-8 does), or pass --skip-bad to skip such files"
_NOT_A_FILE = "not a regular file"
_NOT_REGULAR = f"cannot read ({_NOT_A_FILE}); remove it, or pass --skip-bad to skip such files"
_CANNOT_DECODE = (
    "not valid UTF-8, GB18030, Big5 or UTF-16 (with BOM); "
    "convert it to UTF-8, or pass --skip-bad to skip such files"
)


class CorpusFileError(CorpusError):
    """One file of the corpus cannot be used: ``path`` names it, ``reason`` says why, what to do."""

    def __init__(self, path: str, reason: str) -> None:
        # Both go to args, so the error survives pickling on its way back from a worker process.
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{shown(self.path)}: {self.reason}"


class UndecodableError(CorpusFileError):
    """The file is in none of the encodings dedup reads."""


class BinaryFileError(CorpusFileError):
    """The file holds NUL bytes: binary, not text. Always skipped by ``iter_documents``."""


class UnreadableFileError(CorpusFileError):
    """The file (or a folder) cannot be read: permissions, vanished, not a regular file."""


class BadNameError(CorpusFileError):
    """The file's (or a folder's) name is not valid UTF-8: the database keeps names as text."""


@dataclass(frozen=True)
class Document:
    """One decoded document: a text or HTML file, a JSONL record, a WARC response."""

    path: str  # relative to the scanned root, '/'-separated (single-file corpus: the file name);
    #            for a JSONL record its id (or FILE:LINE), for a WARC response its target URI
    text: str  # decoded; "\r\n" and lone "\r" became "\n"
    encoding: str  # 'utf-8', 'utf-8-sig', 'utf-16', 'gb18030', 'big5' or 'big5hkscs'
    size: int  # bytes on disk (of the record, for a JSONL record or WARC response)
    sha1: str  # hex digest of the raw bytes
    source: str | None = None  # the file it came from, relative to the root (None: ``path``)
    record: int | None = None  # 1-based line of a JSONL record or CSV row, row of a Parquet file, position of a WARC record
    date: str | None = None  # as the record gives it (ISO 8601 or Unix time), for ``earliest``
    meta: str | None = None  # the record's other fields, as a JSON object


@dataclass(frozen=True)
class Skipped:
    """A file ``iter_documents`` left out, and why (one line, naming what to do)."""

    path: str
    reason: str


# ---------------------------------------------------------------------------------------------
# Finding files


def list_files(root: str | os.PathLike, on_error: Callable[[Skipped], None] | None = None) -> list[Path]:
    """Every text file below ``root``, sorted by relative '/'-path; ``root`` may be one file.

    Hidden folders and files (name starting with ".") are skipped, suffixes match case-blind,
    and symlinked folders are not entered (so a symlink loop cannot hang the walk); symlinked
    files are listed. A folder that cannot be listed raises ``UnreadableFileError``, a file or
    folder whose name is not UTF-8 ``BadNameError``; either is reported to ``on_error`` and
    passed over when one is given.
    """
    return _list_files(Path(root), on_error=on_error)


def _list_files(root: Path, on_error: Callable[[Skipped], None] | None) -> list[Path]:
    if not root.exists() and not root.is_symlink():
        raise CorpusError(f"corpus folder not found: {shown(str(root))}")
    if not is_utf8(str(root.absolute())):
        raise CorpusError(f"{shown(str(root.absolute()))}: the corpus path is not valid UTF-8; rename it")
    if root.is_dir():
        found = sorted(_walk(root, on_error))
        paths = [path for _, path in found]
    else:
        paths = [root] if _is_text_name(root.name) else []
    if not paths:
        raise CorpusError(f"no input files found in {shown(str(root))}; dedup reads {INPUT_KINDS}")
    return paths


def _walk(root: Path, on_error: Callable[[Skipped], None] | None) -> Iterator[tuple[str, Path]]:
    """Yield (relative '/'-path, path) of the text files below the folder ``root``."""

    def report(error: OSError) -> None:
        where = Path(error.filename or root)
        rel = where.relative_to(root).as_posix() if where != root else str(root)
        skipped = Skipped(rel.rstrip("/") + "/", cannot_read(error, "folder"))
        if on_error is None:
            raise UnreadableFileError(skipped.path, skipped.reason)
        on_error(skipped)

    def bad_name(rel: str) -> None:
        if on_error is None:
            raise BadNameError(shown(rel), _BAD_NAME)
        on_error(Skipped(shown(rel), _BAD_NAME))

    for folder, dirnames, filenames in os.walk(root, onerror=report, followlinks=False):
        rel_folder = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel_folder == "." else rel_folder + "/"
        # sorted, so that of several bad names the same one is reported first on every run
        entered = []
        for name in sorted(dirnames):
            if not name.startswith("."):
                if is_utf8(name):
                    entered.append(name)
                else:
                    bad_name(prefix + name + "/")
        dirnames[:] = entered
        for name in sorted(filenames):
            if not name.startswith(".") and _is_text_name(name):
                if is_utf8(name):
                    yield prefix + name, Path(folder, name)
                else:
                    bad_name(prefix + name)


def is_utf8(name: str) -> bool:
    """Was this name (as ``os.fsdecode`` gives it) valid UTF-8 on disk?"""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # surrogate escapes: bytes that are not UTF-8
        return False
    return True


def shown(path: str) -> str:
    r"""A path as a message shows it: on one line, a byte of a name that is not UTF-8 as \xNN.

        >>> shown("a\nb.txt"), shown(os.fsdecode(b"caf\xe9.txt"))
        ('a\\nb.txt', 'caf\\xe9.txt')
    """
    return _UNPRINTABLE.sub(_escape, path)


def _escape(match: re.Match) -> str:
    char = match.group()
    if "\udc80" <= char <= "\udcff":  # os.fsdecode's escape of an undecodable byte
        return f"\\x{ord(char) - 0xDC00:02x}"
    return repr(char)[1:-1]


def _is_text_name(name: str) -> bool:
    """Is this a name of an input file (any suffix dedup reads)?"""
    return name.lower().endswith(INPUT_SUFFIXES)


# ---------------------------------------------------------------------------------------------
# Decoding


@functools.cache
def _common_chars() -> frozenset[str]:
    """The level-1 (most frequent) hanzi of GB2312 (0xB0A1-0xD7FE) and of Big5 (0xA440-0xC67E).

    About 6,700 characters, simplified and traditional, that cover well over 99% of running
    Chinese text. Built once, on first use, by decoding those byte ranges.
    """
    pairs = [bytes((lead, trail)) for lead in range(0xB0, 0xD8) for trail in range(0xA1, 0xFF)]
    chars = {pair.decode("gb18030") for pair in pairs}
    for code in range(0xA440, 0xC67F):
        try:
            chars.add(code.to_bytes(2, "big").decode("big5"))
        except UnicodeDecodeError:  # trail bytes 0x7F-0xA0 are not Big5
            pass
    return frozenset(char for char in chars if _IDEOGRAPH.fullmatch(char))


def common_share(text: str) -> float:
    """How much ``text`` looks like correctly decoded Chinese, from 0.0 to 1.0.

    The number of common hanzi (``_common_chars``) over the number of ideographs plus suspect
    characters (private use, kana, bopomofo, Greek, Cyrillic, box drawing) plus ``_PRIOR``.
    The prior keeps short accidents out: "Ça va? Très bien." in Latin-1 reads as GB18030 with
    two ideographs, one of them common (1/4, rejected); a real two-character GBK file scores
    exactly ``MIN_SCORE``. Real Chinese text decoded right scores above 0.9 from 20 ideographs
    on; Big5 bytes read as GB18030 score 0.2-0.3 on the seed files, GB bytes rarely decode as
    Big5 at all. On a single short line the wrong decoding can reach 0.6, but the right one
    still scores higher, and ``decode_bytes`` takes the best.

        >>> text = "今天我們召開全縣疫情防控工作調度會"  # 17 common hanzi: 17 / (17 + 2)
        >>> round(common_share(text), 2)
        0.89
        >>> round(common_share(text.encode("big5").decode("gb18030")), 2)  # wrong: 4 / (16 + 2)
        0.22
        >>> common_share("plain ASCII")
        0.0
    """
    ideographs = _IDEOGRAPH.findall(text)
    seen = len(ideographs) + len(_SUSPECT.findall(text)) + _PRIOR
    return sum(map(_common_chars().__contains__, ideographs)) / seen


def decode_bytes(data: bytes, *, name: str = "<bytes>") -> tuple[str, str]:
    """Decode a text file's bytes: ``(text, encoding)``, line endings normalized to "\\n".

    ``name`` only labels the error. Raises ``BinaryFileError`` or ``UndecodableError``.

        >>> decode_bytes("同志们:\\r\\n".encode("gbk"))
        ('同志们:\\n', 'gb18030')
        >>> decode_bytes(b"")
        ('', 'utf-8')
    """
    if data.startswith(_UTF16_BOMS):
        return normalize_newlines(_decode_strict(data, "utf-16", name)), "utf-16"
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        raise BinaryFileError(name, _BINARY)
    if data.startswith(_UTF8_BOM):
        return normalize_newlines(_decode_strict(data, "utf-8-sig", name)), "utf-8-sig"
    try:
        return normalize_newlines(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    text, encoding = _decode_legacy(data, name)
    return normalize_newlines(text), encoding


def _decode_legacy(data: bytes, name: str) -> tuple[str, str]:
    """The best-scoring strict decoding among GB18030 and Big5 (or Big5-HKSCS); GB18030 on a tie."""
    candidates = []
    for codecs in (("gb18030",), ("big5", "big5hkscs")):
        for codec in codecs:
            try:
                candidates.append((common_share(text := data.decode(codec)), text, codec))
                break
            except UnicodeDecodeError:
                continue
    if candidates:
        score, text, codec = max(candidates, key=lambda candidate: candidate[0])  # first wins ties
        if score >= MIN_SCORE:
            return text, codec
    raise UndecodableError(name, _CANNOT_DECODE)


def _decode_strict(data: bytes, codec: str, name: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        raise UndecodableError(name, _CANNOT_DECODE) from None


def normalize_newlines(text: str) -> str:
    """"\r\n" and lone "\r" become "\n"; nothing else changes."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------------------------
# Reading


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """``path`` opened to read bytes, without waiting: a FIFO named like an input file would
    block a scan forever. Raises OSError, with the strerror "not a regular file" for a FIFO,
    a device or a folder."""
    file = open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb")
    if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
        file.close()
        raise OSError(errno.EINVAL, _NOT_A_FILE, str(path))
    return file


def read_bytes(path: Path, root: Path) -> tuple[str, bytes]:
    """(path relative to ``root``, the file's bytes); raises ``UnreadableFileError`` or, for a
    NUL byte in the first 8 KiB without a UTF-16 BOM, ``BinaryFileError`` (the rest unread)."""
    path, root = Path(path), Path(root)
    rel = relative_path(path, root)
    try:
        # stat first: opening a FIFO named like a text file would block forever.
        if not stat.S_ISREG(path.stat().st_mode):
            raise UnreadableFileError(rel, _NOT_REGULAR)
        with path.open("rb") as file:
            head = file.read(BINARY_SNIFF_BYTES)
            if b"\0" in head and not head.startswith(_UTF16_BOMS):
                raise BinaryFileError(rel, _BINARY)
            data = head + file.read()
    except OSError as error:
        raise UnreadableFileError(rel, cannot_read(error, "file")) from None
    return rel, data


def hash_file(path: Path) -> tuple[str, int]:
    """(SHA-1 hex digest, size) of a file, read a megabyte at a time. Raises OSError (also for
    a FIFO, see ``open_regular``)."""
    digest, size = hashlib.sha1(), 0
    with open_regular(path) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def read_document(path: Path, root: Path) -> Document:
    """Read and decode one text file; its ``Document.path`` is relative to ``root``.

    Raises ``UnreadableFileError``, ``BinaryFileError`` or ``UndecodableError``, naming the file.
    A binary file is recognised from its first 8 KiB, without reading the rest.
    """
    rel, data = read_bytes(path, root)
    text, encoding = decode_bytes(data, name=rel)
    return Document(rel, text, encoding, len(data), hashlib.sha1(data).hexdigest(), source=rel)


def read_file(path: Path, root: Path, fields=None) -> Iterator[Document | CorpusFileError]:
    """The documents of one input file of any kind, in order.

    A file that cannot be read at all raises; a JSONL record, table row or WARC response that
    cannot be used is yielded as its error, so the caller decides whether it stops or is skipped.
    ``fields`` (``records.RecordFields``) says where a record or row keeps its text, id and date.
    """
    from .records import RecordFields, is_jsonl_name, read_records
    from .tabular import is_table_name, read_table
    from .webpage import is_html_name, is_warc_name, read_html, read_warc

    name = Path(path).name
    if is_jsonl_name(name):
        yield from read_records(path, relative_path(Path(path), Path(root)), fields or RecordFields())
    elif is_table_name(name):
        yield from read_table(path, relative_path(Path(path), Path(root)), fields or RecordFields())
    elif is_warc_name(name):
        yield from read_warc(Path(path), Path(root))
    elif is_html_name(name):
        yield read_html(Path(path), Path(root))
    else:
        yield read_document(Path(path), Path(root))


def relative_path(path: Path, root: Path) -> str:
    """`path` relative to `root`, '/'-separated; the file name when `path` is the root itself."""
    if path == root:
        return path.name
    text, prefix = str(path), str(root).rstrip("/") + "/"
    if os.sep == "/" and text.startswith(prefix) and ".." not in text[len(prefix) :].split("/"):
        return text[len(prefix) :]  # what relative_to gives, without its cost (6k files: 0.25 s)
    return path.relative_to(root).as_posix()


def cannot_read(error: OSError, what: str) -> str:
    """Why a file (``what``: "file" or "folder") could not be read, and what to do: a reason."""
    if error.strerror == _NOT_A_FILE:
        return _NOT_REGULAR
    because = error.strerror or type(error).__name__
    return f"cannot read ({because}); fix its permissions, or pass --skip-bad to skip such {what}s"


def iter_documents(
    root: str | os.PathLike,
    *,
    skip_bad: bool = False,
    on_skip: Callable[[Skipped], None] | None = None,
    fields=None,
) -> Iterator[Document]:
    """Yield every ``Document`` of the input files below ``root``, one file at a time, in path order.

    Binary files are always skipped. Undecodable and unreadable files (and folders) raise,
    unless ``skip_bad``: then they are skipped too. Every skip is reported to ``on_skip``.
    """
    root = Path(root)

    def skip(skipped: Skipped) -> None:
        if on_skip is not None:
            on_skip(skipped)

    for path in _list_files(root, on_error=skip if skip_bad else None):
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
