"""Source stage: find the input files under a folder and decode each one into ``Document``s.

Which reader takes a file (``reader_of``, the one dispatch by name; ``read_file`` calls the
reader): by suffix, case-blind, ``.txt`` and ``.md`` (one file, one document); ``.html``,
``.htm``, ``.xhtml`` (text extracted, see webpage.py); ``.jsonl``, ``.ndjson`` and their ``.gz``
(one record, one document, see records.py); ``.warc`` and ``.warc.gz`` (one HTML response, one
document); ``.parquet``, ``.csv`` and ``.tsv`` (one row, one document, see tabular.py). A
suffix of ``NOT_TEXT_SUFFIXES`` (images, archives and compressed files, PDF and
office documents, executables, databases, data formats without a reader here such as ``.json``
or ``.xml``) is not read. Any other file, with no suffix (Debian's ``copyright``, ``README``,
``LICENSE``, a mirrored page) or one dedup does not know, is *sniffed* (``read_sniffed``): read
as text when its first 8 KiB hold no NUL byte and decode, as HTML when they open like an HTML
document (``webpage.looks_like_html``), and otherwise skipped with a warning, as binaries are.
``--include`` and ``--exclude`` (selection.py) narrow the listing; a file an ``--include``
matches is read whatever its suffix (sniffed when no reader claims it). ``read_file`` gives the
documents of any input file; the scan cuts JSONL into line batches and tables into batches of
rows for its workers instead.

Sniffing happens when a file is read, in the worker that reads it, not when the folder is
listed. The reader reads the first 8 KiB first anyway (to stop at a binary without reading the
rest), so the sniff costs no extra I/O, and it runs in parallel on the workers. At listing it
would be an open and a read of every candidate, one after the other in the main process before
any work starts, and a no-op update (which only stats the files it listed) would read every one
again. On 20,000 files without a suffix (warm cache, 2 busy cores), listing takes 1.7 s, of which
0.06 s is the stat that keeps FIFOs and broken symlinks out; reading 8 KiB of each there would
add 0.46 s to every listing, and a no-op update, whose stats take 0.18 s, would take 0.46 s more.
The price: a binary file without a known suffix is listed, then skipped with a warning on every
scan (``--exclude`` silences it), as a binary named ``.txt`` is.

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

import collections
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

from .. import compiled
from ..errors import CorpusError
from .selection import EXCLUDED, INCLUDED, NOT_INCLUDED, Matcher, Selection

# Which reader takes an input file, by the suffix of its name (case-blind): the one place a
# reader's suffixes go. A new reader (CSV, Parquet...) adds its suffixes here and its branch in
# ``read_file``; a suffix given a reader here is read by it whatever NOT_TEXT_SUFFIXES says.
READERS = {
    "text": (".txt", ".md"),
    "html": (".html", ".htm", ".xhtml"),
    "jsonl": (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz"),
    "warc": (".warc", ".warc.gz"),
    "table": (".parquet", ".csv", ".tsv"),  # tabular.TABLE_SUFFIXES
}
SNIFF = "sniff"  # no reader by name, none ruled out: text or HTML if its start says so
INPUT_KINDS = (
    "text (.txt .md), HTML (.html .htm .xhtml), JSON Lines (.jsonl .ndjson, or gzipped), WARC (.warc .warc.gz), "
    "Parquet (.parquet) and CSV (.csv .tsv) files, and any other file whose start is text"
)
# The last suffix of files that are not text, or not text to read line by line: never sniffed,
# unless an --include names them. Binary formats would only be skipped with a warning each.
NOT_TEXT_SUFFIXES = frozenset(
    # images, audio, video
    "png jpg jpeg jpe gif bmp tif tiff webp ico icns heic heif avif psd xcf svg svgz eps "
    "mp3 m4a aac ogg oga opus flac wav wma mid midi mp4 m4v mkv webm avi mov wmv flv mpg mpeg ogv "
    # archives and compressed files (a .jsonl.gz or .warc.gz has its reader above)
    "gz tgz bz2 tbz2 xz txz zst lz lzma lz4 z 7z zip rar tar jar war deb rpm apk whl egg iso img dmg cab msi "
    # documents, fonts
    "pdf doc docx xls xlsx ppt pptx odt ods odp odg rtf epub mobi djvu ps ttf otf woff woff2 eot "
    # executables, libraries, compiled code
    "exe dll so dylib o a obj lib ko bin class pyc pyo pyd wasm mo gmo elc "
    # databases (dedup's own among them) and data formats dedup has no reader for
    "db sqlite sqlite3 db-wal db-shm db-journal arrow feather avro orc npy npz pkl pickle h5 hdf5 "
    "pt pth onnx safetensors ckpt json xml yaml yml toml css js mjs map".split()
)

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
_SILENCE = "--exclude leaves such files out without this warning"
_BINARY_SNIFFED = f"binary file (NUL bytes), skipped; {_SILENCE}"
NOT_TEXT = f"not text dedup reads (its first 8 KiB are not UTF-8, GB18030, Big5 or UTF-16), skipped; convert it to UTF-8 to have it read, or {_SILENCE}"
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


class NotTextError(BinaryFileError):
    """A file read only because nothing said it was not text (no suffix dedup reads) whose
    first 8 KiB do not decode: not text. Always skipped, as binaries are."""


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


def list_files(
    root: str | os.PathLike, on_error: Callable[[Skipped], None] | None = None, *, selection: Selection = Selection()
) -> list[Path]:
    """Every input file below ``root``, sorted by relative '/'-path; ``root`` may be one file.

    Hidden folders and files (name starting with ".") are skipped, and so are files whose name
    says they are not text (``reader_of``), unless an ``--include`` of ``selection`` matches
    them; with ``--include``, only the files it matches; never a file or folder an
    ``--exclude`` matches (selection.py). Symlinked folders are not entered (so a symlink loop
    cannot hang the walk); symlinked files are listed. A folder that cannot be listed raises
    ``UnreadableFileError``, a file or folder whose name is not UTF-8 ``BadNameError``; either
    is reported to ``on_error`` and passed over when one is given. A pattern that matches
    nothing raises ``selection.SelectionError``; no file at all, ``CorpusError``.
    """
    return _list_files(Path(root), on_error=on_error, selection=selection)


def _list_files(root: Path, on_error: Callable[[Skipped], None] | None, selection: Selection = Selection()) -> list[Path]:
    if not root.exists() and not root.is_symlink():
        raise CorpusError(f"corpus folder not found: {shown(str(root))}")
    if not is_utf8(str(root.absolute())):
        raise CorpusError(f"{shown(str(root.absolute()))}: the corpus path is not valid UTF-8; rename it")
    matcher = selection.matcher()
    passed_over: collections.Counter[str] = collections.Counter()  # suffix -> files not read for it
    if root.is_dir():
        found = sorted(_walk(root, on_error, matcher, passed_over))
        paths = [path for _, path in found]
    else:
        paths = [root] if _reads(root.name, root.name, str(root), matcher, passed_over) else []
    matcher.check(shown(str(root)))
    if not paths:
        raise CorpusError(_nothing_found(root, selection, matcher, passed_over))
    return paths


def _nothing_found(root: Path, selection: Selection, matcher: Matcher, passed_over: collections.Counter) -> str:
    """The one-line error of a corpus with no input file: what left its files out, and the fix."""
    where = f"no input files found in {shown(str(root))}"
    if matcher.left_out or matcher.pruned:
        return f"{where}: {selection.describe()} left out every file there ({matcher.left_out_summary()}); change the patterns"
    if passed_over:
        suffixes = sorted(passed_over, key=lambda suffix: (-passed_over[suffix], suffix))
        n = sum(passed_over.values())
        files = f"the {n:,} files here" if n > 1 else "the file here"
        return (
            f"{where}; dedup reads {INPUT_KINDS}, but not {files}, named as binary or data ({' '.join(suffixes[:5])}): "
            f"an --include that matches them (--include '*{suffixes[0]}') reads those that are text"
        )
    return f"{where}; dedup reads {INPUT_KINDS}"


def _walk(root: Path, on_error: Callable[[Skipped], None] | None, matcher: Matcher, passed_over: collections.Counter) -> Iterator[tuple[str, Path]]:
    """Yield (relative '/'-path, path) of the input files below the folder ``root``."""

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

    pruning = bool(matcher.exclude)
    for folder, dirnames, filenames in os.walk(root, onerror=report, followlinks=False):
        rel_folder = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel_folder == "." else rel_folder + "/"
        # sorted, so that of several bad names the same one is reported first on every run
        entered = []
        for name in sorted(dirnames):
            if name.startswith(".") or (pruning and matcher.prunes(prefix + name)):
                continue
            if is_utf8(name):
                entered.append(name)
            else:
                bad_name(prefix + name + "/")
        dirnames[:] = entered
        for name in sorted(filenames):
            if not name.startswith(".") and _reads(prefix + name, name, os.path.join(folder, name), matcher, passed_over):
                if is_utf8(name):
                    yield prefix + name, Path(folder, name)
                else:
                    bad_name(prefix + name)


def _reads(rel: str, name: str, path: str, matcher: Matcher, passed_over: collections.Counter) -> bool:
    """Does a scan read the (not hidden) file at ``rel``? A file the patterns leave to the
    suffix rules and whose suffix says it is not text is counted in ``passed_over``. A file to
    sniff must be a regular file (symlinks followed): a FIFO, a socket, a symlink that loops or
    points nowhere has no start to sniff, and is passed over where one named like a text file
    stops the scan (one stat, for files without a known suffix only)."""
    verdict = matcher.verdict(rel)
    if verdict is not None and verdict != INCLUDED:
        return False
    kind = reader_of(name)
    if kind is None and verdict is None:
        passed_over[suffix_of(name)] += 1
        return False
    return kind not in (None, SNIFF) or os.path.isfile(path)


def why_not_read(rel: str, selection: Selection) -> str | None:
    """None when a scan of the corpus with ``selection`` reads the file at ``rel``; else why not.

        >>> why_not_read("bash/copyright", Selection()), why_not_read("logo.png", Selection())
        (None, 'its suffix .png is not text')
        >>> why_not_read("drafts/a.txt", Selection(exclude=("drafts",)))
        "--exclude 'drafts' matches it"
    """
    if any(part.startswith(".") for part in rel.split("/")):
        return "hidden"
    matcher = selection.matcher()
    verdict = matcher.verdict(rel)
    if verdict == EXCLUDED:
        return f"{next(g for g in matcher.exclude if g in matcher.hits)} matches it"
    if verdict == NOT_INCLUDED:
        return f"no {' '.join(str(g) for g in matcher.include)} matches it"
    name = rel.rpartition("/")[2]
    if verdict is None and reader_of(name) is None:
        if name.startswith("_") and not name.lower().endswith(tuple(s for group in READERS.values() for s in group)):
            return "a name starting with _ marks a dataset's metadata (_SUCCESS, _metadata)"
        return f"its suffix {suffix_of(rel)} is not text"
    return None


def reader_of(name: str) -> str | None:
    """Which reader takes a file of this name: a kind of ``READERS``, ``SNIFF`` (no suffix it
    knows: the start of the file decides), or None (a suffix of ``NOT_TEXT_SUFFIXES``, or a name
    without a reader that starts with ``_``: the markers and metadata that Spark, Hadoop and
    Arrow write beside a dataset's shards, ``_SUCCESS``, ``_metadata``, which Arrow's own
    dataset reader passes over too).

        >>> [reader_of(n) for n in ("a.TXT", "x.jsonl.gz", "copyright", "README.Debian", "c.gz", "p.png")]
        ['text', 'jsonl', 'sniff', 'sniff', None, None]
        >>> [reader_of(n) for n in ("_SUCCESS", "_common_metadata", "_notes.txt")]
        [None, None, 'text']
    """
    lower = name.lower()
    for kind, suffixes in READERS.items():
        if lower.endswith(suffixes):
            return kind
    if lower.startswith("_"):
        return None
    dot = lower.rfind(".")
    return None if dot > 0 and lower[dot + 1 :] in NOT_TEXT_SUFFIXES else SNIFF


def suffix_of(name: str) -> str:
    """The last suffix of a name, lowercased: ``.png``; ``(none)`` without one."""
    name = name.rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else "(none)"


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
        return normalize_newlines(compiled.decode_utf8(data)), "utf-8"
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


def read_bytes(path: Path, root: Path, *, sniff: bool = False) -> tuple[str, bytes]:
    """(path relative to ``root``, the file's bytes); raises ``UnreadableFileError`` or, for a
    NUL byte in the first 8 KiB without a UTF-16 BOM, ``BinaryFileError`` (the rest unread).
    With ``sniff`` (a file no suffix says is text), also ``NotTextError`` when the first 8 KiB
    of a longer file do not decode (the rest unread)."""
    path, root = as_path(path), as_path(root)
    rel = relative_path(path, root)
    try:
        # stat first: opening a FIFO named like a text file would block forever.
        if not stat.S_ISREG(path.stat().st_mode):
            raise UnreadableFileError(rel, _NOT_REGULAR)
        with path.open("rb") as file:
            head = file.read(BINARY_SNIFF_BYTES)
            if b"\0" in head and not head.startswith(_UTF16_BOMS):
                raise BinaryFileError(rel, _BINARY_SNIFFED if sniff else _BINARY)
            if sniff and len(head) == BINARY_SNIFF_BYTES and decode_start(head) is None:
                raise NotTextError(rel, NOT_TEXT)
            data = head + file.read()
    except OSError as error:
        raise UnreadableFileError(rel, cannot_read(error, "file")) from None
    return rel, data


def decode_start(head: bytes) -> str | None:
    """The first bytes of a file decoded as ``decode_bytes`` does, once a character the cut
    split is dropped from their end; None when they do not decode.

        >>> head = ("版权所有" * 700).encode("utf-8")[:8192]  # 8192 = 3 x 2730 + 2: a split character
        >>> len(decode_start(head)), decode_start(b"%PDF-1.7\\n" + bytes(range(128, 256)) * 60)
        (2730, None)
    """
    for cut in range(4):  # a UTF-8, GB18030 or UTF-16 character is at most 4 bytes
        try:
            return decode_bytes(head[: len(head) - cut])[0]
        except UndecodableError:
            continue
    return None


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


def as_path(path) -> Path:
    """``path`` as a Path: itself when it is one (``Path(path)`` of a Path parses it again,
    ~10 us, five times a file of a scan)."""
    return path if isinstance(path, Path) else Path(path)


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
