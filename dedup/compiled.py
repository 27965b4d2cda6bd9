"""The compiled core (``dedup/_core.c``), its character tables, and the choice of core.

The C extension is built by ``pip install -e .``; a machine without a compiler installs without
it and runs the Python reference path, more slowly (``dedup --version`` says which core is in
use, and a scan says once that it is the slower one). ``DEDUP_CORE=python`` chooses the Python
path on purpose (the tests compare both; the benchmark has a row for each).

The core normalizes in one pass over code points, table-driven. The tables are computed here,
once a process, from the running Python's ``unicodedata`` and from the reference module's own
character classes, so the two paths can only disagree where the C code is wrong, which the
tests look for (tests/integration/test_core.py). What the tables cannot say, the core does not do: a
paragraph holding a character whose NFKC or case mapping depends on its neighbours (combining
marks, Hangul jamo, the final sigma), a character above the BMP, or HTML (``<``, ``&``) is
normalized by the Python reference instead. The script fold is OpenCC's own converter, called
only on paragraphs holding a character it can change, exactly as the reference calls it.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import unicodedata
from array import array
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

try:
    from . import _core
except ImportError as error:  # no compiler at install time, or an old build
    _core = None
    _IMPORT_ERROR = str(error)
else:
    _IMPORT_ERROR = ""

__all__ = [
    "available", "core_name", "prepare", "decode_utf8", "compiled_normalizer", "script_fold", "paragraph_spans", "components",
    "fingerprint_index", "encode_keys", "sign", "shingle_sets", "pair_intersections", "read_keys", "intersections",
    "warn_if_slow",
]

# flags of dedup/_core.c
F_COMPLEX, F_MAPPED, F_PUNCT, F_WORD, F_NUMERAL, F_SPACE, F_TONED, F_T2S, F_SIMPLE, F_T2S_CALL = (1 << i for i in range(10))
NONE = 0xFFFFFFFF
_FINAL_SIGMA = "\u03a3"  # str.lower maps it by context (σ or ς)


def available() -> bool:
    """Is the compiled core built and chosen (``DEDUP_CORE`` is not ``python``)?"""
    return _core is not None and os.environ.get("DEDUP_CORE", "").lower() != "python"


def core_name() -> str:
    """'compiled' or 'python (...why...)': what ``dedup --version`` shows."""
    if available():
        return "compiled"
    if _core is not None:
        return "python (DEDUP_CORE=python)"
    return "python (the compiled core is not built: no C compiler when dedup was installed?)"


def _composition_seconds() -> set[int]:
    """Code points that can be the second of a canonical composition (NFC_Quick_Check=Maybe):
    the second of every two-character canonical decomposition, and Hangul vowel and final jamo.
    Next to one, NFKC depends on the neighbour, which a per-character table cannot know."""
    seconds = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    for cp in range(0x110000):
        decomposition = unicodedata.decomposition(chr(cp))
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                seconds.add(int(parts[1], 16))
    return seconds


def opencc_dictionaries(config: str = "t2s") -> tuple[set[str], list[str]] | None:
    """(keys of the config's normalization dictionaries, multi-character keys of all its
    dictionaries), dumped with the ``opencc_dict`` tool that the opencc wheel ships; None when
    the tool, the config or a dictionary cannot be read (every text t2s may change then goes
    through OpenCC itself)."""
    import json
    import subprocess

    try:
        import opencc

        share = Path(opencc.__file__).parent / "clib" / "share" / "opencc"
        tool = Path(opencc.__file__).parent / "clib" / "bin" / "opencc_dict"
        spec = json.loads((share / f"{config}.json").read_text(encoding="utf-8"))
    except (ImportError, OSError, ValueError):
        return None

    def files(node) -> list[str]:
        if isinstance(node, dict):
            found = [node["file"]] if node.get("type") in ("ocd2", "ocd", "text") and "file" in node else []
            return found + [f for value in node.values() for f in files(value)]
        if isinstance(node, list):
            return [f for value in node for f in files(value)]
        return []

    def keys(name: str) -> list[str]:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "dict.txt"
            kind = Path(name).suffix.lstrip(".")
            subprocess.run([str(tool), "-i", str(share / name), "-o", str(out), "-f", kind, "-t", "text"],
                           check=True, capture_output=True, timeout=60)
            return [line.split("\t", 1)[0] for line in out.read_text(encoding="utf-8").splitlines() if line]

    try:
        normalization = {k for name in files(spec.get("normalization", [])) for k in keys(name)}
        phrases = sorted({k for name in files(spec) for k in keys(name) if len(k) > 1})
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return None
    return normalization, phrases


def t2s_tables() -> tuple[bytes, bytes, bytes, bytes, set[str]] | None:
    """The core's t2s by character: (index, pool, phrase starts, phrase pool, characters that
    send a text to OpenCC itself), or None when OpenCC's dictionaries cannot be read.

    Where no multi-character key of any t2s dictionary occurs in a text, OpenCC converts each
    character as it converts that character alone; the conversion of each BMP character alone
    is taken from OpenCC itself (all of them in one call, a line each)."""
    from .text import normalize as ref

    found = opencc_dictionaries()
    if found is None:
        return None
    normalization, phrases = found
    if any(ord(c) >= 0x10000 for p in phrases for c in p):
        phrases = [p for p in phrases if all(ord(c) < 0x10000 for c in p)]  # astral text is complex anyway
    chars = [chr(cp) for cp in range(0x80, 0x10000) if not 0xD800 <= cp <= 0xDFFF and cp != 0x0A]
    converted = ref.opencc_t2s().convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):
        return None
    index = np.full(65536, NONE, dtype=np.uint32)
    pool: list[int] = []
    for ch, out in zip(chars, converted):
        out = out.replace("苧", "苎")  # as normalize.fold_script
        if out != ch:
            index[ord(ch)] = len(pool)
            pool.append(len(out))
            pool.extend(map(ord, out))
    starts = np.full(65536, NONE, dtype=np.uint32)
    phrase_pool: list[int] = []
    by_first: dict[str, list[str]] = {}
    for p in phrases:
        by_first.setdefault(p[0], []).append(p)
    for first, group in sorted(by_first.items()):
        starts[ord(first)] = len(phrase_pool)
        phrase_pool.append(len(group))
        for p in group:
            phrase_pool.append(len(p))
            phrase_pool.extend(map(ord, p))
    # OpenCC leaves an ideographic description sequence (⿰來來) unconverted, whatever its
    # operands: a text with a description character goes through OpenCC itself
    describers = {chr(cp) for cp in range(0x2FF0, 0x3000)} | {"\u31ef"}
    return (index.tobytes(), array("I", pool).tobytes(), starts.tobytes(), array("I", phrase_pool).tobytes(),
            {c for c in normalization if len(c) == 1} | describers)


def _syllables(pattern: str) -> set[str]:
    """Every string the regex ``pattern`` matches, for a pattern of literals, classes,
    alternations and optional parts only (normalize._SYLLABLE): a finite language."""
    try:
        from re import _parser as sre_parse  # Python 3.11+
    except ImportError:  # pragma: no cover
        import sre_parse  # type: ignore[no-redef]
    from re import _constants as c  # type: ignore[attr-defined]

    def strings(sub) -> set[str]:
        out = {""}
        for op, arg in sub:
            if op is c.LITERAL:
                options = {chr(arg)}
            elif op is c.IN:
                options = set()
                for item_op, item in arg:
                    if item_op is c.LITERAL:
                        options.add(chr(item))
                    elif item_op is c.RANGE:
                        options.update(chr(x) for x in range(item[0], item[1] + 1))
                    else:
                        raise ValueError(f"unsupported class item {item_op}")
            elif op is c.BRANCH:
                options = set().union(*(strings(branch) for branch in arg[1]))
            elif op is c.SUBPATTERN:
                options = strings(arg[-1])
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
                low, high, inner = arg
                if high > 1:
                    raise ValueError("unbounded or repeated part")
                options = ({""} if low == 0 else set()) | strings(inner)
            else:
                raise ValueError(f"unsupported regex part {op}")
            out = {a + b for a in out for b in options}
        return out

    return strings(sre_parse.parse(pattern))


def _cache_path() -> Path | None:
    """Where the tables are kept between runs: named by a digest of everything they are computed
    from (Python and its Unicode version, OpenCC's version, the reference module and this one),
    so a change to any of them computes them again."""
    from importlib import metadata

    from .text import normalize as ref

    try:
        opencc_version = metadata.version("opencc")
    except metadata.PackageNotFoundError:
        opencc_version = "?"
    digest = hashlib.sha1()
    for part in (sys.version, unicodedata.unidata_version, opencc_version):
        digest.update(part.encode() + b"\0")
    for module in (ref, sys.modules[__name__]):
        # by the module's loader, which reads a zip too (the package the Spark engine ships to
        # executors is one, and their dedup._core may still be an installed one)
        digest.update(module.__spec__.loader.get_data(module.__file__))
    folder = os.environ.get("DEDUP_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dedup")
    return Path(folder) / f"core-tables-{digest.hexdigest()[:20]}.bin"


def _read_cached(path: Path) -> tuple[bytes, ...] | None:
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    body = blob[20:]
    if hashlib.sha1(body).digest() != blob[:20]:
        return None  # damaged: computed again and rewritten
    parts, pos = [], 0
    for _ in range(N_TABLES):
        size = int.from_bytes(body[pos : pos + 8], "little")
        parts.append(body[pos + 8 : pos + 8 + size])
        pos += 8 + size
    return tuple(parts) if pos == len(body) else None


def _write_cached(path: Path, parts: tuple[bytes, ...]) -> None:
    """Write the tables atomically; a cache that cannot be written is simply not kept."""
    body = b"".join(len(p).to_bytes(8, "little") + p for p in parts)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".core-tables-", suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(hashlib.sha1(body).digest() + body)
        os.replace(tmp, path)
    except OSError:  # a full disk, a file size limit: nothing of it is left behind
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


N_TABLES = 10  # compute_tables' six, then t2s_tables' four (empty when OpenCC's cannot be read)


@lru_cache(maxsize=1)
def tables() -> tuple[bytes, ...]:
    """The core's character tables: read from the cache (~1 ms), or computed (~1 s) and kept."""
    path = _cache_path()
    cached = _read_cached(path)
    if cached is not None:
        return cached
    computed = compute_tables()
    _write_cached(path, computed)
    return computed


def compute_tables() -> tuple[bytes, ...]:
    """The character tables of the core (see ``_core.c`` for the flags), from the reference."""
    from .text import normalize as ref

    t2s = t2s_tables()

    punctuation = re.compile(f"[{ref._PUNCTUATION}]")
    word = re.compile(f"[{ref._WORD}]")
    numeral = re.compile(f"[{ref._NUMERAL}]")
    space = re.compile(r"\s")
    seconds = _composition_seconds()
    triggers = set(ref.t2s_triggers())
    toned = set(ref._TONED)

    def stable(ch: str) -> bool:
        cp = ord(ch)
        return (
            cp < 0x10000
            and not 0xD800 <= cp <= 0xDFFF
            and unicodedata.combining(ch) == 0
            and cp not in seconds
            and unicodedata.normalize("NFKC", ch) == ch
        )

    def simple(ch: str) -> bool:
        """What F_SIMPLE says: NFKC-stable whatever its neighbours, with such a lowercase."""
        lowered = ch.lower()
        return stable(ch) and ch != _FINAL_SIGMA and len(lowered) == 1 and stable(lowered)

    flags = np.zeros(65536, dtype=np.uint16)
    lower = np.arange(65536, dtype=np.uint32)
    map_index = np.zeros(65536, dtype=np.uint32)
    pool: list[int] = []
    for cp in range(65536):
        ch = chr(cp)
        if 0xD800 <= cp <= 0xDFFF:
            flags[cp] = F_COMPLEX
            continue
        f = 0
        if simple(ch):
            f |= F_SIMPLE
            lower[cp] = ord(ch.lower())
        mapped = unicodedata.normalize("NFKC", ch)
        if mapped != ch:
            if all(simple(m) for m in mapped):
                f |= F_MAPPED
                map_index[cp] = len(pool)
                pool.append(len(mapped))
                pool.extend(ord(m) for m in mapped)
            else:
                f |= F_COMPLEX
        elif not f & F_SIMPLE:
            f |= F_COMPLEX
        if punctuation.match(ch):
            f |= F_PUNCT
        if word.match(ch):
            f |= F_WORD
        if numeral.match(ch):
            f |= F_NUMERAL
        if space.match(ch):
            f |= F_SPACE
        if ch in toned:
            f |= F_TONED
        if ch in triggers:
            f |= F_T2S
        if t2s is None or ch in t2s[4]:
            f |= F_T2S_CALL
        flags[cp] = f
    letters, packed = pinyin_tables(ref._SYLLABLE)
    t2s_parts = t2s[:4] if t2s is not None else (b"", b"", b"", b"")
    return (flags.tobytes(), lower.tobytes(), map_index.tobytes(), array("I", pool).tobytes(), letters, packed, *t2s_parts)


def pinyin_tables(syllable_pattern: str) -> tuple[bytes, bytes]:
    """(the letter number of every BMP code point, 0 for none; the sorted packed syllables) of
    the pinyin state machine: a syllable is packed as up to 6 letters of 6 bits each."""
    syllables = _syllables(syllable_pattern)
    alphabet = sorted({ch for s in syllables for ch in s})
    if len(alphabet) > 63 or max(map(len, syllables)) > 6 or any(ord(ch) >= 0x10000 for ch in alphabet):
        raise ValueError("the pinyin syllables no longer fit the core's packing (6 letters of 6 bits)")
    letters = np.zeros(65536, dtype=np.uint8)
    for i, ch in enumerate(alphabet, start=1):
        letters[ord(ch)] = i

    def pack(s: str) -> int:
        value = 0
        for ch in s:
            value = (value << 6) | int(letters[ord(ch)])
        return value

    packed = np.array(sorted(pack(s) for s in syllables if s), dtype=np.uint64)
    return letters.tobytes(), packed.tobytes()


_LOADED = False


def _core_module():
    """The extension with its tables loaded, or None when the Python path is in use."""
    global _LOADED
    if not available():
        return None
    if not _LOADED:
        parts = tables()
        _core.set_tables(*parts[:6])
        if parts[6]:
            _core.set_t2s(*parts[6:])
        address = xxh3_address()
        if address:
            _core.set_hasher(address)
        _LOADED = True
    return _core


@lru_cache(maxsize=1)
def xxh3_address() -> int:
    """The address of ``XXH3_128bits`` in the xxhash package's extension module (which exports
    it), so the core computes ``fingerprint.fingerprint_utf8`` itself without the interpreter lock
    and without a Python call a paragraph; 0 when that build does not export it (the fingerprints
    are then made in Python, as before)."""
    import ctypes

    import xxhash._xxhash as module

    try:
        return ctypes.cast(ctypes.CDLL(module.__file__).XXH3_128bits, ctypes.c_void_p).value or 0
    except (OSError, AttributeError):
        return 0


def prepare() -> None:
    """Build the tables now (~0.5 s), in the main process, so that forked workers inherit them."""
    _core_module()


_CONVERT = None


def script_fold(text: str) -> str:
    """OpenCC's t2s as ``normalize.fold_script`` applies it (the core calls it back for the texts
    its character table cannot convert)."""
    global _CONVERT
    if _CONVERT is None:
        from .text.normalize import opencc_t2s

        _CONVERT = opencc_t2s().convert
    converted = _CONVERT(text)
    return converted.replace("苧", "苎") if "苧" in converted else converted


def make_normalizer(steps: Sequence[str] | None = None) -> Callable[[str], str]:
    """``normalize.make_normalizer(steps)`` on the compiled core when it is built and the steps
    are the full default pipeline (the same keys, a test checks it); else the reference itself.
    What every stage that makes keys calls."""
    from .text import normalize as ref

    reference = ref.make_normalizer(ref.DEFAULT_STEPS if steps is None else steps)
    if reference.steps != ref.DEFAULT_STEPS:  # type: ignore[attr-defined]
        return reference
    return compiled_normalizer(reference) or reference


def compiled_normalizer(reference: Callable[[str], str]) -> Callable[[str], str] | None:
    """A text -> key function equal to ``reference`` (the full default pipeline), computed by the
    core where it can; None when the core is not in use."""
    core = _core_module()
    if core is None:
        return None
    normalize_key = core.normalize_key

    def normalizer(text: str) -> str:
        key = normalize_key(text, script_fold)
        return key if key is not None else reference(text)

    def document_keys(text: str, starts, ends) -> tuple[bytes, np.ndarray, np.ndarray]:
        """(the keys' UTF-8 one after another, where each ends, each one's length in characters)
        of the paragraphs text[starts[i]:ends[i]], in one call to the core."""
        data, key_ends, key_chars = core.normalize_spans(
            text, np.ascontiguousarray(starts, dtype=np.int64), np.ascontiguousarray(ends, dtype=np.int64), script_fold, reference
        )
        return data, np.frombuffer(key_ends, dtype=np.int64), np.frombuffer(key_chars, dtype=np.int64)

    def prepare_text(text: str, mode: int, shortest: int) -> tuple[bytes, bytes, bytes, bytes]:
        """(spans, keys, key ends, fingerprints) of a document, as bytes, in one call to the core:
        ``local.prepare_document``'s arrays (a key under ``shortest`` characters: zero bytes)."""
        return core.prepare_text(text, mode, script_fold, reference, shortest)

    normalizer.steps = getattr(reference, "steps", None)  # type: ignore[attr-defined]
    normalizer.document_keys = document_keys  # type: ignore[attr-defined]
    if xxh3_address():
        normalizer.prepare_text = prepare_text  # type: ignore[attr-defined]
    return normalizer


def decode_utf8(data: bytes) -> str:
    """``data.decode("utf-8")``, decoded by the core without the interpreter lock when it is in
    use (the read stage's threads then decode their files at once); raises UnicodeDecodeError
    as the strict decoder does, by calling it when the bytes are not well-formed."""
    if available():
        text = _core.decode_utf8(data)
        if text is not None:
            return text
    return data.decode("utf-8")


def paragraph_spans(text: str, mode: int) -> bytes:
    """int64 rows (line_start, line_end, char_start, char_end) (paragraphs.paragraph_spans)."""
    return _core_module().paragraph_spans(text, mode)


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected component labels (cluster.components) by union-find."""
    out = _core_module().components(n, np.ascontiguousarray(a, dtype=np.int64), np.ascontiguousarray(b, dtype=np.int64))
    return np.frombuffer(out, dtype=np.int64)


def fingerprint_index():
    """An empty index of distinct fingerprints: the core's, or the Python reference."""
    if available():
        return _core.FingerprintIndex()
    from .text.fingerprint import FingerprintIndex

    return FingerprintIndex()


def encode_keys(keys: list[str]) -> tuple[bytes, np.ndarray]:
    """Keys as one UTF-8 buffer and int64 offsets (key i is data[offsets[i]:offsets[i+1]])."""
    encoded = [k.encode("utf-8") for k in keys]
    offsets = np.zeros(len(keys) + 1, dtype=np.int64)
    if encoded:
        np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    return b"".join(encoded), offsets


def sign(data, offsets, ids, k: int, dense_k: int | None, seed: int, num_perm: int, b: int, r: int, anchor_mod: int, anchor_gap: int):
    """(set sizes, band hashes (n, b) uint32, anchor owners int32, anchor values uint32) of the
    keys ``ids`` (None: all) of a UTF-8 buffer, as local.sign_batch computes them in numpy
    (anchors as lsh.anchors: ``anchor_mod`` 0 for none)."""
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    ids = None if ids is None else np.ascontiguousarray(ids, dtype=np.int64)
    sizes, bands, owner, values = _core_module().sign(data, offsets, ids, k, dense_k or 0, seed, num_perm, b, r, anchor_mod, anchor_gap)
    n = len(sizes) // 8
    return (np.frombuffer(sizes, dtype=np.int64), np.frombuffer(bands, dtype=np.uint32).reshape(n, b),
            np.frombuffer(owner, dtype=np.int32), np.frombuffer(values, dtype=np.uint32))


def shingle_sets(data, offsets, ids, k: int, dense_k: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct 40-bit shingle ids, offsets) of the keys ``ids`` of a UTF-8 buffer."""
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    ids = None if ids is None else np.ascontiguousarray(ids, dtype=np.int64)
    hashes, out_offsets = _core_module().shingle_sets(data, offsets, ids, k, dense_k or 0, seed)
    return np.frombuffer(hashes, dtype=np.uint64), np.frombuffer(out_offsets, dtype=np.int64)


def pair_intersections(data, offsets, a: np.ndarray, b: np.ndarray, k: int, dense_k: int | None, seed: int) -> np.ndarray:
    """|A_i & B_i| of the shingle sets of keys a[i] and b[i] of a UTF-8 buffer (store positions)."""
    out = _core_module().pair_intersections(
        data, np.ascontiguousarray(offsets, dtype=np.int64), np.ascontiguousarray(a, dtype=np.int64),
        np.ascontiguousarray(b, dtype=np.int64), k, dense_k or 0, seed,
    )
    return np.frombuffer(out, dtype=np.int64)


def read_keys(fd: int, offsets, indexes: np.ndarray) -> tuple[bytes, np.ndarray]:
    """(bytes, int64 offsets) of the keys ``indexes`` (ascending, distinct) of a key file."""
    data, out = _core_module().read_keys(fd, np.ascontiguousarray(offsets, dtype=np.int64), np.ascontiguousarray(indexes, dtype=np.int64))
    return data, np.frombuffer(out, dtype=np.int64)


def intersections(hashes: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|A_i & B_i| of every pair of sets (a[i], b[i])."""
    a = np.ascontiguousarray(a, dtype=np.int64)
    b = np.ascontiguousarray(b, dtype=np.int64)
    out = _core_module().intersections(np.ascontiguousarray(hashes, dtype=np.uint64), np.ascontiguousarray(offsets, dtype=np.int64), a, b)
    return np.frombuffer(out, dtype=np.int64)


def warn_if_slow(stream=None) -> None:
    """Say once, on one line (stderr by default), that the run takes the slower Python path
    because the core is missing."""
    global _WARNED
    if _core is None and not _WARNED and os.environ.get("DEDUP_CORE", "").lower() != "python":
        _WARNED = True
        (stream or sys.stderr).write("dedup: the compiled core is not built (no C compiler at install?); using the slower Python path\n")


_WARNED = False
