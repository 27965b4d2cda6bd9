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
