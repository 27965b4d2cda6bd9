"""Tests for dedup.sources.corpus: finding text files, decoding them, skipping the bad ones."""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
import pickle
import re
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import DEBIAN_PACKAGES, as_nobody, debian_copyrights
from dedup.config import ScanConfig
from dedup.sources.corpus import (
    BinaryFileError,
    Document,
    Skipped,
    UndecodableError,
    UnreadableFileError,
    decode_bytes,
    list_files,
    read_document,
)
from dedup.errors import ConfigError, CorpusError
from dedup.sources.selection import Selection, SelectionError
from dedup.sources.dispatch import iter_documents, read_sniffed

SEEDS = Path(__file__).resolve().parents[2] / "data" / "seeds"
SIMPLIFIED = SEEDS / "001_d3b6136d7093a85b.txt"
TRADITIONAL = SEEDS / "003_1ede3f202e9dcf26.txt"

UNDECODABLE = (
    "not valid UTF-8, GB18030, Big5 or UTF-16 (with BOM); "
    "convert it to UTF-8, or pass --skip-bad to skip such files"
)
HANZI = re.compile("[\u4e00-\u9fff]")


def seed(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def write(root: Path, rel: str, data: bytes | str = "正文\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def rel_paths(root: Path) -> list[str]:
    return [path.relative_to(root).as_posix() for path in list_files(root)]


def rel_paths_of(root: Path, include=(), exclude=()) -> list[str]:
    return [path.relative_to(root).as_posix() for path in list_files(root, selection=Selection(include, exclude))]


def collect(root: Path, **kwargs) -> tuple[list[Document], list[Skipped]]:
    skipped: list[Skipped] = []
    documents = list(iter_documents(root, on_skip=skipped.append, **kwargs))
    return documents, skipped


# ---------------------------------------------------------------------------------------------
# Finding files


def test_order_is_sorted_relative_path_whatever_the_creation_order(tmp_path):
    names = ["b/z.txt", "a.txt", "b/a.txt", "a-b.txt", "B.txt", "b.txt", "a/b/c.txt"]
    first, second = tmp_path / "first", tmp_path / "second"
    for name in names:
        write(first, name)
    for name in reversed(names):
        write(second, name)
    # Code-point order of the '/'-path, not the filesystem's or the locale's.
    expected = ["B.txt", "a-b.txt", "a.txt", "a/b/c.txt", "b.txt", "b/a.txt", "b/z.txt"]
    assert rel_paths(first) == expected
    assert rel_paths(second) == expected
    assert [doc.path for doc in iter_documents(second)] == expected


def test_nested_folders_are_walked(tmp_path):
    write(tmp_path, "top.txt")
    write(tmp_path, "one/two/three/deep.md")
    assert rel_paths(tmp_path) == ["one/two/three/deep.md", "top.txt"]
    assert [doc.path for doc in iter_documents(tmp_path)] == ["one/two/three/deep.md", "top.txt"]


def test_hidden_files_and_folders_are_ignored(tmp_path):
    write(tmp_path, "seen.txt")
    write(tmp_path, ".hidden.txt")
    write(tmp_path, ".git/objects/x.txt")
    write(tmp_path, "sub/.cache/y.md")
    write(tmp_path, "sub/seen.md")
    assert rel_paths(tmp_path) == ["seen.txt", "sub/seen.md"]


def test_suffix_matches_case_blind_and_unknown_ones_are_sniffed(tmp_path):
    """Known suffixes case-blind; a known non-text suffix (.json, .gz but .warc.gz) is not
    listed; no suffix or an unknown one is listed, to be sniffed when read."""
    for name in ["upper.TXT", "mixed.Md", "page.HTML", "notes.txt.bak", "txt", "data.jsonl", "data.json", "c.warc.gz", "c.gz", "x.PNG"]:
        write(tmp_path, name)
    assert rel_paths(tmp_path) == ["c.warc.gz", "data.jsonl", "mixed.Md", "notes.txt.bak", "page.HTML", "txt", "upper.TXT"]


def test_missing_root(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(CorpusError) as error:
        list_files(missing)
    assert str(error.value) == f"corpus folder not found: {missing}"
    with pytest.raises(CorpusError):
        list(iter_documents(missing))


READS = (
    "dedup reads text (.txt .md), HTML (.html .htm .xhtml), JSON Lines (.jsonl .ndjson, or gzipped), "
    "WARC (.warc .warc.gz), Parquet (.parquet) and CSV (.csv .tsv) files, and any other file whose start is text"
)


@pytest.mark.parametrize("contents", [[], [".hidden.txt", ".git/HEAD"]])
def test_root_without_text_files(tmp_path, contents):
    for name in contents:
        write(tmp_path, name)
    with pytest.raises(CorpusError) as error:
        list_files(tmp_path)
    assert str(error.value) == f"no input files found in {tmp_path}; {READS}"


def test_root_with_only_files_named_as_binary_or_data_says_how_to_read_them(tmp_path):
    for name in ["page.json", "notes.xml", "b.json"]:
        write(tmp_path, name)
    with pytest.raises(CorpusError) as error:
        list_files(tmp_path)
    assert str(error.value) == (
        f"no input files found in {tmp_path}; {READS}, but not the 3 files here, named as binary or data (.json .xml): "
        "an --include that matches them (--include '*.json') reads those that are text"
    )
    assert rel_paths_of(tmp_path, include=("*.json",)) == ["b.json", "page.json"]


def test_single_file_root(tmp_path):
    path = write(tmp_path, "sub/only.txt", "一行\r\n")
    assert list_files(path) == [path]
    assert list_files(str(path)) == [path]
    [doc] = iter_documents(path)
    assert doc.path == "only.txt"
    assert doc.text == "一行\n"


def test_single_file_root_needs_a_text_suffix(tmp_path):
    path = write(tmp_path, "page.json")
    with pytest.raises(CorpusError, match="no input files found in"):
        list_files(path)


@pytest.fixture
def no_hang():
    """Fail, instead of hanging, when a walk takes more than 10 seconds."""

    def timeout(signum, frame):
        raise TimeoutError("walk did not finish: symlink loop?")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_symlink_loop_does_not_hang(tmp_path, no_hang):
    write(tmp_path, "a/real.txt")
    (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "self").symlink_to(tmp_path / "self", target_is_directory=True)
    (tmp_path / "x").symlink_to(tmp_path / "y")
    (tmp_path / "y").symlink_to(tmp_path / "x")
    assert rel_paths(tmp_path) == ["a/real.txt"]


def test_symlinked_files_are_read_symlinked_folders_are_not_entered(tmp_path):
    write(tmp_path, "real/a.txt", "甲\n")
    (tmp_path / "alias.txt").symlink_to(tmp_path / "real" / "a.txt")
    (tmp_path / "linked").symlink_to(tmp_path / "real", target_is_directory=True)
    assert rel_paths(tmp_path) == ["alias.txt", "real/a.txt"]
    assert [doc.text for doc in iter_documents(tmp_path)] == ["甲\n", "甲\n"]


# ---------------------------------------------------------------------------------------------
# Decoding real text in every encoding we read


def _big5(text: str) -> bytes:
    """The seed files hold a few characters Big5 lacks (simplified ones, private use): drop them."""
    return text.encode("big5", errors="ignore")


ENCODINGS = {
    # name: (encode, the encoding decode_bytes must report)
    "utf-8": (lambda text: text.encode("utf-8"), "utf-8"),
    "utf-8 BOM": (lambda text: text.encode("utf-8-sig"), "utf-8-sig"),
    "utf-16 LE BOM": (lambda text: b"\xff\xfe" + text.encode("utf-16-le"), "utf-16"),
    "utf-16 BE BOM": (lambda text: b"\xfe\xff" + text.encode("utf-16-be"), "utf-16"),
    "gb18030": (lambda text: text.encode("gb18030"), "gb18030"),
    "big5": (_big5, "big5"),
}


@pytest.mark.parametrize("seed_path", sorted(SEEDS.glob("*.txt")), ids=lambda path: path.name[:3])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_seed_text_round_trips(tmp_path, seed_path, encoding):
    encode, reported = ENCODINGS[encoding]
    data = encode(seed(seed_path))
    expected = data.decode("utf-16" if reported == "utf-16" else reported)
    assert len(HANZI.findall(expected)) > 1000  # real text, not what is left of it
    path = write(tmp_path, "doc.txt", data)
    doc = read_document(path, tmp_path)
    assert doc == Document(
        path="doc.txt",
        text=expected,
        encoding=reported,
        size=len(data),
        sha1=hashlib.sha1(data).hexdigest(),
        source="doc.txt",
    )


def test_gbk_file_is_read_as_gb18030():
    text = seed(SIMPLIFIED)
    assert decode_bytes(text.encode("gbk")) == (text, "gb18030")


def _lines(path: Path, codec: str) -> list[str]:
    """Lines of a seed file with two hanzi or more, less the characters ``codec`` lacks.

    (A lone hanzi is too little evidence for a legacy encoding: see test_evidence_needed.)
    """
    found = []
    for line in seed(path).split("\n"):
        line = line.encode(codec, errors="ignore").decode(codec)
        if len(HANZI.findall(line)) >= 2:
            found.append(line)
    return found


def test_evidence_needed():
    # Two common hanzi are enough; one is not, or one stray Latin-1 letter could pass as Chinese.
    assert decode_bytes("关闭".encode("gbk")) == ("关闭", "gb18030")
    # A few Big5 hanzi can be a true tie: the bytes of "關閉" are also GB18030 for the common
    # "闽超", and GB18030 wins ties. Whole lines of the seeds are told apart (tests above).
    assert decode_bytes("關閉".encode("big5")) == ("闽超", "gb18030")
    for text in ["共", "共。"]:
        with pytest.raises(UndecodableError):
            decode_bytes(text.encode("gbk"))


def test_gbk_lines_that_also_decode_as_big5_are_read_as_gb18030():
    ambiguous = []
    for path in sorted(SEEDS.glob("*.txt")):
        for line in _lines(path, "gbk"):
            try:
                line.encode("gbk").decode("big5")
            except UnicodeDecodeError:
                continue
            ambiguous.append(line)
    assert "同志们:" in ambiguous and len(ambiguous) >= 20
    for line in ambiguous:
        assert decode_bytes(line.encode("gbk")) == (line, "gb18030"), line


def test_big5_lines_are_not_mistaken_for_gb18030():
    lines = _lines(TRADITIONAL, "big5")
    assert len(lines) >= 100
    for line in lines:
        data = line.encode("big5")
        data.decode("gb18030")  # any byte pair is GB18030: the score has to decide
        assert decode_bytes(data) == (line, "big5"), line


def test_big5_with_hkscs_characters_falls_back_to_big5hkscs():
    text = "香港的粵語用字:嘅、嘢,仲有啲人講國語。"
    data = text.encode("big5hkscs")
    with pytest.raises(UnicodeDecodeError):
        data.decode("big5")
    assert decode_bytes(data) == (text, "big5hkscs")


@pytest.mark.parametrize(
    "text", ["café au lait", "naïve façade", "Ça va? Très bien.", "Müller und Söhne", "déjà vu"]
)
def test_latin1_is_undecodable_and_names_the_file(tmp_path, text):
    path = write(tmp_path, "sub/latin.txt", text.encode("latin-1"))
    with pytest.raises(UndecodableError) as error:
        read_document(path, tmp_path)
    assert str(error.value) == f"sub/latin.txt: {UNDECODABLE}"
    with pytest.raises(UndecodableError):
        decode_bytes(text.encode("latin-1"))


def test_undecodable_file_raises_or_is_skipped(tmp_path):
    write(tmp_path, "a.txt", "甲\n")
    write(tmp_path, "b.txt", "café".encode("latin-1"))
    write(tmp_path, "c.txt", "丙\n")
    with pytest.raises(UndecodableError, match="^b.txt: not valid UTF-8"):
        list(iter_documents(tmp_path))
    documents, skipped = collect(tmp_path, skip_bad=True)
    assert [doc.path for doc in documents] == ["a.txt", "c.txt"]
    assert skipped == [Skipped("b.txt", UNDECODABLE)]


def test_a_bom_decides(tmp_path):
    # Bytes after a UTF-8 BOM are not tried as GB18030: a BOM that lies makes the file undecodable.
    with pytest.raises(UndecodableError):
        decode_bytes(b"\xef\xbb\xbf" + "中文".encode("gb18030"))
    with pytest.raises(UndecodableError):
        decode_bytes(b"\xff\xfe" + b"\x00\xd8")  # a lone surrogate
    assert decode_bytes(b"\xef\xbb\xbf") == ("", "utf-8-sig")


def test_empty_file(tmp_path):
    assert decode_bytes(b"") == ("", "utf-8")
    doc = read_document(write(tmp_path, "empty.txt", b""), tmp_path)
    assert (doc.text, doc.encoding, doc.size) == ("", "utf-8", 0)
    assert doc.sha1 == hashlib.sha1(b"").hexdigest()


@pytest.mark.parametrize("codec", ["utf-8", "utf-8-sig", "utf-16", "gb18030", "big5"])
def test_line_endings_are_normalized(codec):
    text, encoding = decode_bytes("第一行\r\n第二行\r第三行\n\r\n末行".encode(codec))
    assert text == "第一行\n第二行\n第三行\n\n末行"
    assert encoding == codec


def test_only_cr_and_crlf_are_touched():
    text = "一\x0c二\x85三\u2028四\r\n"
    assert decode_bytes(text.encode("utf-8")) == ("一\x0c二\x85三\u2028四\n", "utf-8")


text_without_nul = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0")).map(
    lambda text: text.replace("\r\n", "\n").replace("\r", "\n")
)


@given(text_without_nul.filter(lambda text: not text.startswith("\ufeff")))
def test_utf8_text_decodes_to_itself(text):
    assert decode_bytes(text.encode("utf-8")) == (text, "utf-8")


@given(text_without_nul)
def test_utf8_with_bom_decodes_to_itself(text):
    assert decode_bytes(text.encode("utf-8-sig")) == (text, "utf-8-sig")


# ---------------------------------------------------------------------------------------------
# Binary and unreadable files


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


def test_binary_file_is_always_skipped(tmp_path):
    write(tmp_path, "a.txt", "甲\n")
    write(tmp_path, "image.txt", PNG)
    for skip_bad in (False, True):
        documents, skipped = collect(tmp_path, skip_bad=skip_bad)
        assert [doc.path for doc in documents] == ["a.txt"]
        assert skipped == [Skipped("image.txt", "binary file (NUL bytes), skipped")]
    assert [doc.path for doc in iter_documents(tmp_path)] == ["a.txt"]  # no on_skip: silent


def test_binary_file_error(tmp_path):
    with pytest.raises(BinaryFileError) as error:
        read_document(write(tmp_path, "x/image.md", PNG), tmp_path)
    assert str(error.value) == "x/image.md: binary file (NUL bytes), skipped"
    with pytest.raises(BinaryFileError):
        decode_bytes(b"text\0")


def test_nul_after_the_first_8_kib_is_text():
    data = b"a" * 8192 + b"\0"
    assert decode_bytes(data) == ("a" * 8192 + "\0", "utf-8")


def test_utf16_with_bom_is_not_binary():
    assert decode_bytes("abc\n".encode("utf-16")) == ("abc\n", "utf-16")


def _refuse(monkeypatch, name: str) -> None:
    """Make Path.open raise PermissionError for files called ``name``: chmod 000 is moot as root."""
    real_open = pathlib.Path.open

    def open_(self, *args, **kwargs):
        if self.name == name:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", open_)


def test_unreadable_file_raises_or_is_skipped(tmp_path, monkeypatch):
    write(tmp_path, "a.txt", "甲\n")
    write(tmp_path, "sub/locked.txt", "乙\n")
    write(tmp_path, "z.txt", "丙\n")
    _refuse(monkeypatch, "locked.txt")
    reason = (
        "cannot read (Permission denied); "
        "fix its permissions, or pass --skip-bad to skip such files"
    )
    with pytest.raises(UnreadableFileError) as error:
        list(iter_documents(tmp_path))
    assert str(error.value) == f"sub/locked.txt: {reason}"
    documents, skipped = collect(tmp_path, skip_bad=True)
    assert [doc.path for doc in documents] == ["a.txt", "z.txt"]
    assert skipped == [Skipped("sub/locked.txt", reason)]


def test_chmod_000_file_is_unreadable(tmp_path):
    """Root reads files whatever their mode, so as root (CI) the read runs in a forked child
    that has dropped to the 'nobody' user, on a file in a folder that user may enter."""
    folder = Path(tempfile.mkdtemp()) if os.geteuid() == 0 else tmp_path
    folder.chmod(0o755)
    path = write(folder, "locked.txt")
    path.chmod(0)
    try:
        assert re.match("^locked.txt: cannot read", _read_error(path, folder))
    finally:
        path.chmod(0o644)
        if folder != tmp_path:
            shutil.rmtree(folder)


def _read_error(path: Path, root: Path) -> str:
    """The message of the UnreadableFileError that read_document raises (as an unprivileged user)."""

    def read() -> dict:
        try:
            read_document(path, root)
        except UnreadableFileError as error:
            return {"message": str(error)}
        return {"message": "read without an error"}

    return as_nobody(read)["message"]


def test_vanished_file_is_unreadable(tmp_path):
    write(tmp_path, "a.txt", "甲\n")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "nowhere.txt")  # listed, but cannot be opened
    with pytest.raises(UnreadableFileError) as error:
        list(iter_documents(tmp_path))
    assert str(error.value) == (
        "gone.txt: cannot read (No such file or directory); "
        "fix its permissions, or pass --skip-bad to skip such files"
    )
    documents, skipped = collect(tmp_path, skip_bad=True)
    assert [doc.path for doc in documents] == ["a.txt"]
    assert [item.path for item in skipped] == ["gone.txt"]


def test_fifo_is_not_opened(tmp_path, no_hang):
    os.mkfifo(tmp_path / "pipe.txt")
    with pytest.raises(UnreadableFileError, match=r"^pipe.txt: cannot read \(not a regular file\)"):
        read_document(tmp_path / "pipe.txt", tmp_path)


def test_unlistable_folder_raises_or_is_skipped(tmp_path, monkeypatch):
    write(tmp_path, "a.txt", "甲\n")
    write(tmp_path, "locked/b.txt", "乙\n")
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(UnreadableFileError, match=r"^locked/: cannot read \(Permission denied\)"):
        list_files(tmp_path)
    documents, skipped = collect(tmp_path, skip_bad=True)
    assert [doc.path for doc in documents] == ["a.txt"]
    assert [item.path for item in skipped] == ["locked/"]


# ---------------------------------------------------------------------------------------------
# Streaming, documents, errors


def test_files_are_read_one_at_a_time(tmp_path):
    write(tmp_path, "a.txt", "甲\n")
    write(tmp_path, "b.txt", "乙\n")
    documents = iter_documents(tmp_path)
    assert next(documents).path == "a.txt"
    (tmp_path / "b.txt").unlink()  # not read yet, so its loss shows
    with pytest.raises(UnreadableFileError, match="^b.txt: cannot read"):
        next(documents)


def test_document_records_raw_size_and_hash(tmp_path):
    data = "简体中文\r\n".encode("gb18030")
    doc = read_document(write(tmp_path, "a.txt", data), tmp_path)
    sha1 = hashlib.sha1(data).hexdigest()
    assert doc == Document("a.txt", "简体中文\n", "gb18030", len(data), sha1, source="a.txt")
    with pytest.raises(AttributeError):
        doc.text = "changed"  # frozen


def test_root_given_as_str(tmp_path):
    write(tmp_path, "a.txt", "甲\n")
    assert [doc.path for doc in iter_documents(str(tmp_path))] == ["a.txt"]


@pytest.mark.parametrize("error_type", [UndecodableError, BinaryFileError, UnreadableFileError])
def test_file_errors_survive_pickling(error_type):
    # Errors come back from worker processes pickled.
    error = error_type("sub/a.txt", "why, and what to do")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is error_type and isinstance(copy, CorpusError)
    assert (copy.path, copy.reason, str(copy)) == ("sub/a.txt", "why, and what to do", str(error))
    assert str(copy) == "sub/a.txt: why, and what to do"


@given(
    st.lists(st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1, max_size=6), min_size=1, max_size=4),
    st.lists(st.sampled_from(["a", "b b", "语料", ".."]), max_size=3),
)
def test_relative_path_is_relative_to(parts, root_parts):
    """The string fast path of relative_path gives what Path.relative_to gives."""
    from dedup.sources.corpus import relative_path

    root = Path("/", *root_parts)
    path = root.joinpath(*parts)
    try:
        expected = path.relative_to(root).as_posix() if path != root else path.name
    except ValueError:
        return
    assert relative_path(path, root) == expected


# ---------------------------------------------------------------------------------------------
# Files without a known suffix: sniffed when read


def test_debian_copyright_files_without_a_suffix_are_read(tmp_path):
    """/usr/share/doc/PACKAGE/copyright, one folder a package: every one a document, its text
    the file's own (they are UTF-8), in path order. Before sniffing: no input files found."""
    files = debian_copyrights(tmp_path)
    documents, skipped = collect(tmp_path)
    assert skipped == []
    assert [doc.path for doc in documents] == sorted(files) == [f"{p}/copyright" for p in DEBIAN_PACKAGES]
    for doc in documents:
        assert (doc.text, doc.encoding, doc.sha1) == (files[doc.path].decode("utf-8"), "utf-8", hashlib.sha1(files[doc.path]).hexdigest())


def test_binary_files_without_a_suffix_are_skipped_with_a_warning(tmp_path):
    """A real executable (NUL bytes), bytes that decode as nothing (no NUL: a PDF-like stream)
    short and long, next to text: skipped, whatever skip_bad, each reported once; the long one
    unread past its first 8 KiB (so is the executable)."""
    write(tmp_path, "a/copyright", seed(SIMPLIFIED))
    (tmp_path / "bin").mkdir()
    shutil.copyfile("/bin/true", tmp_path / "bin" / "true")
    write(tmp_path, "blob", b"%PDF-1.7\n" + bytes(range(128, 256)) * 8)
    write(tmp_path, "stream", b"%PDF-1.7\n" + bytes(range(128, 256)) * 400)
    silence = "--exclude leaves such files out without this warning"
    not_text = f"not text dedup reads (its first 8 KiB are not UTF-8, GB18030, Big5 or UTF-16), skipped; convert it to UTF-8 to have it read, or {silence}"
    for skip_bad in (False, True):
        documents, skipped = collect(tmp_path, skip_bad=skip_bad)
        assert [doc.path for doc in documents] == ["a/copyright"]
        assert skipped == [
            Skipped("bin/true", f"binary file (NUL bytes), skipped; {silence}"),
            Skipped("blob", not_text),
            Skipped("stream", not_text),
        ]
    read = []
    real_open = pathlib.Path.open

    class Counted(io.BufferedReader):
        def read(self, *args):
            data = super().read(*args)
            read.append((Path(self.name).name, len(data)))
            return data

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pathlib.Path, "open", lambda self, *args, **kwargs: Counted(real_open(self, "rb", buffering=0)))
        for name in ("bin/true", "stream"):
            with pytest.raises(BinaryFileError):
                read_sniffed(tmp_path / name, tmp_path)
    assert read == [("true", 8192), ("stream", 8192)]


def test_text_start_then_an_undecodable_byte_is_an_undecodable_file(tmp_path):
    """Past its first 8 KiB a sniffed file is a text file like any other: a Latin-1 byte later
    on stops the scan (or is skipped with skip_bad), as in a .txt file."""
    write(tmp_path, "NOTES", b"plain ASCII line\n" * 600 + "café\n".encode("latin-1"))
    with pytest.raises(UndecodableError) as error:
        list(iter_documents(tmp_path))
    assert str(error.value) == f"NOTES: {UNDECODABLE}"
    assert collect(tmp_path, skip_bad=True) == ([], [Skipped("NOTES", UNDECODABLE)])


def test_sniffed_legacy_encodings_and_a_character_cut_at_8_kib(tmp_path):
    """The first 8 KiB are decoded as decode_bytes does (GB18030, UTF-16 with its BOM), a
    character split at the 8 KiB mark dropped from the sniff, not from the document."""
    text = seed(SIMPLIFIED)[:6000]
    write(tmp_path, "gbk", text.encode("gb18030"))
    write(tmp_path, "utf16", text.encode("utf-16"))
    odd = "x" + "版权所有" * 1000  # 8192 = 1 + 3 x 2730 + 1: the cut splits a character
    write(tmp_path, "utf8", odd.encode("utf-8"))
    documents, skipped = collect(tmp_path)
    assert skipped == []
    assert [(d.path, d.encoding) for d in documents] == [("gbk", "gb18030"), ("utf16", "utf-16"), ("utf8", "utf-8")]
    assert [d.text for d in documents] == [text, text, odd]


def test_html_without_a_suffix_is_read_as_html(tmp_path):
    """A page saved without a suffix (a wget mirror) opens like an HTML document: its text is
    extracted as from a .html file. A text with a few tags in it stays text."""
    page = "<!DOCTYPE html>\n<html><head><script>var x = 1;</script></head><body><p>第一段</p><p>a &lt; b</p></body></html>\n"
    write(tmp_path, "site/about", page)
    write(tmp_path, "site/about.html", page)
    write(tmp_path, "notes", "<p>not a page</p>\n")
    documents, _ = collect(tmp_path)
    by_path = {d.path: d.text for d in documents}
    assert by_path["site/about"] == by_path["site/about.html"] == "第一段\n\na < b"
    assert by_path["notes"] == "<p>not a page</p>\n"


def test_a_file_to_sniff_must_be_a_regular_file(tmp_path, no_hang):
    """A FIFO, a broken symlink and a symlink loop without a suffix have no start to sniff:
    not listed (named .txt they are listed, and reading them fails); a symlink to a file is."""
    write(tmp_path, "real/copyright", "text\n")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "alias").symlink_to(tmp_path / "real" / "copyright")
    assert rel_paths(tmp_path) == ["alias", "real/copyright"]


# ---------------------------------------------------------------------------------------------
# Choosing files: --include and --exclude


def test_a_pattern_without_a_slash_matches_a_name_in_any_folder(tmp_path):
    for rel in ("copyright", "bash/copyright", "bash/changelog", "a/b/copyright", "a/copyright.txt", "c/copyright/x.txt"):
        write(tmp_path, rel)
    assert rel_paths_of(tmp_path, include=("copyright",)) == ["a/b/copyright", "bash/copyright", "c/copyright/x.txt", "copyright"]
    assert rel_paths_of(tmp_path, include=("*.txt",)) == ["a/copyright.txt", "c/copyright/x.txt"]
    assert rel_paths_of(tmp_path, exclude=("copyright",)) == ["a/copyright.txt", "bash/changelog"]


def test_a_pattern_with_a_slash_matches_from_the_top_and_double_star_across_folders(tmp_path):
    for rel in ("docs/a.md", "docs/x/b.md", "docs/x/y/c.md", "src/docs/d.md", "e.md"):
        write(tmp_path, rel)
    assert rel_paths_of(tmp_path, include=("docs/*.md",)) == ["docs/a.md"]
    assert rel_paths_of(tmp_path, include=("/docs/*.md",)) == ["docs/a.md"]  # a leading / only anchors
    assert rel_paths_of(tmp_path, include=("docs/**/*.md",)) == ["docs/a.md", "docs/x/b.md", "docs/x/y/c.md"]
    assert rel_paths_of(tmp_path, include=("**/docs/*.md",)) == ["docs/a.md", "src/docs/d.md"]
    assert rel_paths_of(tmp_path, include=("docs/**",)) == ["docs/a.md", "docs/x/b.md", "docs/x/y/c.md"]
    assert rel_paths_of(tmp_path, include=("docs/x",)) == ["docs/x/b.md", "docs/x/y/c.md"]  # a folder: all below it
    assert rel_paths_of(tmp_path, exclude=("x/",)) == ["docs/a.md", "e.md", "src/docs/d.md"]  # folders only


def test_patterns_are_case_sensitive_and_suffixes_are_not(tmp_path):
    write(tmp_path, "A.TXT")
    write(tmp_path, "b.txt")
    assert rel_paths_of(tmp_path) == ["A.TXT", "b.txt"]
    assert rel_paths_of(tmp_path, exclude=("*.txt",)) == ["A.TXT"]


def test_exclude_wins_over_include(tmp_path):
    for rel in ("keep/a/copyright", "keep/b/copyright", "keep/b/README", "drafts/copyright"):
        write(tmp_path, rel)
    chosen = rel_paths_of(tmp_path, include=("copyright", "README"), exclude=("**/b/copyright", "drafts"))
    assert chosen == ["keep/a/copyright", "keep/b/README"]


def test_an_included_file_is_read_whatever_its_suffix_and_still_sniffed(tmp_path):
    """.json and .png are never read by name, but an --include reads them as any file without
    a reader: the JSON as text, the PNG skipped as binary, with the warning."""
    write(tmp_path, "a.txt", "甲\n")
    write(tmp_path, "data.json", '{"text": "乙"}\n')
    write(tmp_path, "logo.png", PNG)
    assert rel_paths(tmp_path) == ["a.txt"]
    documents, skipped = collect(tmp_path, selection=Selection(include=("data.json", "*.png")))
    assert [(d.path, d.text) for d in documents] == [("data.json", '{"text": "乙"}\n')]
    assert [s.path for s in skipped] == ["logo.png"] and "binary" in skipped[0].reason


def test_an_excluded_folder_is_not_walked(tmp_path):
    """Its bad names are not reported, its files not looked at."""
    write(tmp_path, "a.txt")
    write(tmp_path, os.fsdecode(b"old/caf\xe9/x.txt"))
    with pytest.raises(CorpusError, match="not valid UTF-8"):
        list_files(tmp_path)
    assert rel_paths_of(tmp_path, exclude=("old",)) == ["a.txt"]


@pytest.mark.parametrize(
    "include, exclude, message",
    [
        (("copyrite",), (), "--include 'copyrite' matches no file in {root}; "),
        ((), ("Drafts",), "--exclude 'Drafts' matches nothing in {root}; "),
        (("copyright", "*.md"), (), "--include '*.md' matches no file in {root}; "),
        (("b/*",), ("b",), "--include 'b/*' matches no file in {root} that --exclude leaves in; "),
        (("/usr/share/doc/*/copyright",), (), "--include '/usr/share/doc/*/copyright' matches no file in {root}; "),
    ],
)
def test_a_pattern_that_matches_nothing_is_an_error_naming_it(tmp_path, include, exclude, message):
    write(tmp_path, "a/copyright")
    write(tmp_path, "b/copyright")
    with pytest.raises(SelectionError) as error:
        list_files(tmp_path, selection=Selection(include, exclude))
    assert str(error.value) == message.format(root=tmp_path) + (
        "patterns match the path below it: 'copyright' a name in any folder, 'docs/*.md' from the top, '**' any folders"
    )


def test_patterns_that_leave_out_every_file_say_so(tmp_path):
    write(tmp_path, "a/copyright")
    write(tmp_path, "b/copyright")
    with pytest.raises(CorpusError) as error:
        list_files(tmp_path, selection=Selection(exclude=("copyright",)))
    assert not isinstance(error.value, SelectionError)
    assert str(error.value) == f"no input files found in {tmp_path}: --exclude 'copyright' left out every file there (2 files); change the patterns"
    with pytest.raises(CorpusError) as error:
        list_files(tmp_path, selection=Selection(exclude=("a/copyright", "b")))
    assert str(error.value) == (
        f"no input files found in {tmp_path}: --exclude 'a/copyright' --exclude 'b' left out every file there (1 file and 1 folder); change the patterns"
    )


@pytest.mark.parametrize("pattern", ["", "/", "./", "a//b"])
def test_a_pattern_that_can_match_no_path_is_refused(pattern):
    with pytest.raises(ConfigError, match=re.escape(f"--include {pattern!r}")):
        Selection(include=(pattern,))
    with pytest.raises(ConfigError):
        ScanConfig(include=(pattern,))


@given(
    st.text(st.sampled_from("ab.*?[]!-"), min_size=1, max_size=8),
    st.lists(st.text(st.sampled_from("ab.-]![*?"), min_size=1, max_size=6), min_size=1, max_size=8),
)
def test_a_name_pattern_matches_names_as_fnmatchcase_does(pattern, names):
    """On names (no '/', no '\\', no '^' in the pattern: the escapes and the negation fnmatch
    lacks), a pattern without a slash is fnmatch's own, case-sensitive."""
    import fnmatch

    from dedup.sources.selection import compile_glob

    try:
        glob = compile_glob(pattern)
    except ConfigError:  # a range such as [b-a]: fnmatch makes it empty, dedup refuses it
        return
    for name in names:
        assert bool(glob.file.fullmatch(name)) == fnmatch.fnmatchcase(name, pattern), (pattern, name)
