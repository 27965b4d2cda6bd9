"""Scan configuration: one frozen dataclass, validated on creation, stored with every run.

CLI options map onto these fields one to one, so a run can be repeated from its stored config.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

from .errors import ConfigError

SPLIT_MODES = ("auto", "lines", "blocks", "join")
DENSE_SHINGLE = 3
ALPHABETIC_SHINGLE = 5
CANONICAL_POLICIES = ("first", "longest", "earliest")
MIN_KEY_CHARS = 2  # a key of one character ("1", "一") is a list marker or a stray symbol, not text
MIN_CONTAINED_SHINGLES = 10  # a partial copy needs this many shingles (12 Han characters)
# From this many shingles (42 Han or 44 Latin characters) a partial copy may keep
# LONG_CONTAINMENT_SLACK less of them inside the longer key than ``containment`` asks
# (0.8 for the default 0.9; verify.MatchRule says why).
LONG_CONTAINED_SHINGLES = 40
LONG_CONTAINMENT_SLACK = 0.1
# Two neighbouring paragraphs that together are a copy of a key are both copies of it when
# each holds at least this share of its own shingles inside that key (match/joined.py).
JOINED_HALF_SHARE = 0.5
# ... and when they share at most this share of the smaller one's shingles: the two pieces of
# one text, not two versions of it (clauses 1 and 2 of a BSD licence, each like clause 2).
JOINED_MAX_OVERLAP = 0.2


@dataclass(frozen=True)
class ScanConfig:
    """Everything that decides the result of a scan.

    threshold     Jaccard similarity on shingle sets at or above which two paragraphs are copies.
                  0.6: with 3-gram shingles of Chinese it finds 96% of the copies of the
                  generated benchmark at precision 1.0, where 0.8 finds 85% (bench/README.md).
    containment   share of a shorter paragraph's shingles inside a longer one at or above which it
                  is a partial copy (relation ``contained``); 0 turns partial copies off. 0.9
                  keeps "most of its shingles": 0.8 for every key finds 1% more copies on the
                  benchmark at the first loss of precision. A shorter paragraph of 40
                  shingles or more needs 0.1 less (0.8).
    shingle_size  characters per shingle (character n-grams of the normalized key); None chooses
                  per key: 3 for keys mostly in a dense script (Han, kana, Hangul: a character
                  is about a word), 5 for alphabetic ones (see bench/README.md for the data).
    num_perm      MinHash signature length; split into LSH bands of equal rows.
    bands         LSH bands; must divide num_perm. None: chosen from threshold (see lsh.py).
    split         paragraph splitting: one line each, blank-line blocks, auto (runs of hard-wrapped
                  lines joined, every other line on its own, decided run by run), or join
                  (lines, rejoining lines cut mid-sentence; see paragraphs.py).
    min_chars     keys shorter than this are matched by exact fingerprint only. Below 10
                  characters one edit inside a key already drops its 3-gram Jaccard to 0.45 or
                  less (8 shingles, 3 broken), so MinHash could only find the exact copies the
                  fingerprint settles anyway; short titles ("第一章" / "第二章") stay apart.
    canonical     policy that picks the canonical member of a cluster (see canonical.py).
    normalize     names of the normalization steps applied in order (see normalize.py).
    workers       worker processes for the heavy stages (0: one per core); the result never
                  depends on it.
    seed          seed of the shingle hashes, permutations and probe sequences: another seed
                  gives other signatures (and may change which borderline pairs LSH proposes).
    text_field    JSONL and table (Parquet, CSV) inputs: the field holding a record's text,
    id_field      the field holding its id (the document's path; FILE:LINE when absent),
    date_field    and the field holding its date (ISO 8601 or Unix time), for ``earliest``.
                  WARC responses are dated by their WARC-Date; text and HTML files are undated.
    include       globs of the files of a corpus folder to read (none: every input file), and
    exclude       globs of those to leave out, which win over ``include`` (selection.py). An
                  update may change them: it lists the folder again, as a full scan would.
    """

    threshold: float = 0.6
    containment: float = 0.9  # 0: no partial copies
    shingle_size: int | None = None  # None: DENSE_SHINGLE for Han/kana/Hangul keys, ALPHABETIC_SHINGLE else
    num_perm: int = 128
    bands: int | None = None  # None: chosen from the threshold by lsh.optimal_bands
    split: str = "auto"
    min_chars: int = 10
    canonical: str = "first"
    normalize: tuple[str, ...] | None = None  # None: normalize.DEFAULT_STEPS
    workers: int = 0  # 0: one per core
    seed: int = 1
    text_field: str = "text"
    id_field: str = "id"
    date_field: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.selection  # the patterns are checked here: ConfigError for one that can match no path
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"threshold must be in (0, 1], got {self.threshold}")
        if not 0.0 <= self.containment <= 1.0:
            raise ConfigError(f"containment must be in [0, 1] (0 turns it off), got {self.containment}")
        if self.shingle_size is not None and self.shingle_size < 1:
            raise ConfigError(f"shingle size must be at least 1, got {self.shingle_size}")
        if self.num_perm < 2 or self.num_perm > 1024:
            raise ConfigError(f"num-perm must be between 2 and 1024, got {self.num_perm}")
        if self.bands is not None and (self.bands < 1 or self.num_perm % self.bands):
            raise ConfigError(
                f"num-perm {self.num_perm} is not divisible into {self.bands} bands; "
                f"choose a num-perm that is a multiple of {self.bands}, or leave bands out"
            )
        if self.split not in SPLIT_MODES:
            raise ConfigError(f"split must be one of {', '.join(SPLIT_MODES)}, got {self.split!r}")
        if self.min_chars < 0:
            raise ConfigError(f"min-chars must be 0 or more, got {self.min_chars}")
        if self.canonical not in CANONICAL_POLICIES:
            raise ConfigError(
                f"canonical policy must be one of {', '.join(CANONICAL_POLICIES)}, got {self.canonical!r}"
            )
        if self.workers < 0:
            raise ConfigError(f"workers must be 0 (one per core) or more, got {self.workers}")
        if self.normalize is not None:
            from .text.normalize import STEPS

            unknown = [s for s in self.normalize if s not in STEPS]
            if unknown:
                raise ConfigError(
                    f"unknown normalization step {unknown[0]!r}; known steps: {', '.join(STEPS)}"
                )

    @property
    def effective_workers(self) -> int:
        """Workers to use (threads with the compiled core, processes without): ``workers``, or one per available core when it is 0."""
        if self.workers:
            return self.workers
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1

    def shingle_sizes(self) -> tuple[int, int]:
        """(n for dense-script keys, n for other keys)."""
        if self.shingle_size is None:
            return DENSE_SHINGLE, ALPHABETIC_SHINGLE
        return self.shingle_size, self.shingle_size

    @property
    def selection(self):
        """Which files of a corpus folder a scan reads (``selection.Selection``)."""
        from .sources.selection import Selection

        return Selection(tuple(self.include), tuple(self.exclude))

    @property
    def record_fields(self):
        """Where JSONL records keep their text, id and date (``records.RecordFields``)."""
        from .sources.records import RecordFields

        return RecordFields(self.text_field, self.id_field, self.date_field)

    def lsh_bands(self) -> tuple[int, int]:
        """(bands, rows per band): the given bands, or the best for the threshold."""
        from .match.lsh import optimal_bands

        if self.bands is not None:
            return self.bands, self.num_perm // self.bands
        return optimal_bands(self.threshold, self.num_perm)

    @property
    def steps(self) -> tuple[str, ...]:
        """The normalization steps this config applies, defaults resolved."""
        from .text.normalize import DEFAULT_STEPS

        return tuple(DEFAULT_STEPS if self.normalize is None else self.normalize)

    @classmethod
    def from_json(cls, text: str, **changes) -> "ScanConfig":
        """The config a run stored (``to_json``), with ``changes``; fields a later version
        dropped are ignored."""
        stored = json.loads(text)
        fields = {k: v for k, v in stored.items() if k in cls.__dataclass_fields__}
        fields["normalize"] = tuple(fields["normalize"]) if fields.get("normalize") else None
        fields.update({k: tuple(fields[k]) for k in ("include", "exclude") if k in fields})
        return cls(**{**fields, **changes})

    def match_rule(self):
        """The rule that decides, on the exact shingle sets, which pairs are copies (verify.py):
        the same for a scan, an update, a lookup and the filter."""
        from .match.verify import MatchRule

        return MatchRule(
            self.threshold, self.containment, MIN_CONTAINED_SHINGLES,
            max(0.0, round(self.containment - LONG_CONTAINMENT_SLACK, 12)), LONG_CONTAINED_SHINGLES,
        )

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["normalize"] = list(self.steps)
        return json.dumps(d, ensure_ascii=False, sort_keys=True)
