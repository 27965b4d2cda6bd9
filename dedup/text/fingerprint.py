"""Exact fingerprints of normalized keys: identical keys never reach MinHash.

xxh3_128 makes a collision between two different keys astronomically unlikely (2^-128 per pair),
so equal fingerprints are treated as equal keys without comparing the texts.
"""

from __future__ import annotations

import xxhash


def fingerprint(key: str) -> bytes:
    """The 16-byte xxh3_128 digest of a key's UTF-8 bytes.

    >>> fingerprint("abc") == fingerprint("abc"), fingerprint("abc") == fingerprint("abd")
    (True, False)
    """
    return xxhash.xxh3_128_digest(key.encode("utf-8"))


def fingerprint_utf8(data: bytes) -> bytes:
    """``fingerprint`` of a key already encoded as UTF-8."""
    return xxhash.xxh3_128_digest(data)


NO_FINGERPRINT = bytes(16)
"""What stands for the fingerprint of a key too short to match (see config.MIN_KEY_CHARS)."""


class FingerprintIndex:
    """Distinct fingerprints numbered 0, 1, ... in order of first appearance, with the number
    of paragraphs of each: the reference of the compiled core's index of the same name, which
    holds 24 bytes a key in one table instead of a dict entry and a bytes object.

    >>> index = FingerprintIndex()
    >>> ids = index.add(fingerprint("a") + NO_FINGERPRINT + fingerprint("b") + fingerprint("a"))
    >>> list(memoryview(ids).cast("q")), len(index), list(memoryview(index.counts()).cast("q"))
    ([0, -1, 1, 0], 2, [2, 1])
    """

    def __init__(self) -> None:
        self._ids: dict[bytes, int] = {}
        self._counts: list[int] = []

    def add(self, fingerprints: bytes) -> bytes:
        """The int64 ids of a buffer of 16-byte fingerprints (all zero: none, id -1)."""
        from array import array

        out = array("q")
        for start in range(0, len(fingerprints), 16):
            fp = bytes(fingerprints[start : start + 16])
            if fp == NO_FINGERPRINT:
                out.append(-1)
                continue
            kid = self._ids.setdefault(fp, len(self._ids))
            if kid == len(self._counts):
                self._counts.append(0)
            self._counts[kid] += 1
            out.append(kid)
        return out.tobytes()

    def add_new(self, fingerprints: bytes) -> tuple[bytes, bytes]:
        """(``add``'s ids, the int64 positions where new ids first appear)."""
        from array import array

        before = len(self._ids)
        ids = self.add(fingerprints)
        firsts, seen = array("q"), before
        for position, kid in enumerate(memoryview(ids).cast("q")):
            if kid == seen:
                firsts.append(position)
                seen += 1
        return ids, firsts.tobytes()

    def fingerprints(self) -> bytes:
        """Every fingerprint in id order, 16 bytes each."""
        return b"".join(self._ids)

    def counts(self) -> bytes:
        """The int64 number of paragraphs of every id."""
        from array import array

        return array("q", self._counts).tobytes()

    def __len__(self) -> int:
        return len(self._ids)
