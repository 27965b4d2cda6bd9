"""Which member of a cluster is the canonical source, and why.

Policies (``--canonical``), each a total order on paragraphs, so the choice is deterministic and
never depends on file order or worker count ("corpus order" is sorted relative path, then
position in the document):

``first`` (default)
    The first member in corpus order. Scraped dumps are stored in crawl order, by date, or by
    numbered page (the seeds' ``000_``…``004_``), so the first copy is the best guess for the
    source. On the generated benchmark, whose originals are the first appearances, it makes
    the "is this paragraph a copy" decision exact (precision 1.0); ``longest`` drops it to 0.95.
``longest``
    The member with the longest normalized text: the most complete version. Truncated copies,
    excerpts and copies that lost a sentence are never canonical over the whole they came from;
    pinyin junk, markup and spacing do not count because they are not in the normalized text.
    Ties go to the first in corpus order. For corpora whose order means nothing.
``earliest``
    The member of the earliest dated document: JSONL records with ``--date-field``, WARC
    responses by their WARC-Date. Undated members come after every dated one; ties, and
    clusters with no date at all, go to the first in corpus order. For crawls whose files are
    not in publication order.
"""

from __future__ import annotations

from dataclasses import dataclass

import datetime as dt
import math

import numpy as np

POLICIES = ("first", "longest", "earliest")


def paragraph_rank(policy: str, key_len: np.ndarray, date: np.ndarray | None = None) -> np.ndarray:
    """Rank of every paragraph under ``policy`` (0 = best); paragraphs are in corpus order.

    ``key_len[i]`` is the normalized length of paragraph i, ``date[i]`` the date of its
    document in seconds since the epoch (NaN: undated; only ``earliest`` reads it).

    >>> paragraph_rank("longest", np.array([3, 9, 9, 1])).tolist()
    [2, 0, 1, 3]
    >>> paragraph_rank("first", np.array([3, 9, 9, 1])).tolist()
    [0, 1, 2, 3]
    >>> paragraph_rank("earliest", np.array([3, 9, 9, 1]), np.array([np.nan, 20.0, 10.0, 20.0])).tolist()
    [3, 1, 0, 2]
    """
    n = len(key_len)
    position = np.arange(n)
    if policy == "longest":
        order = np.lexsort((position, -np.asarray(key_len)))
    elif policy == "first":
        order = position
    elif policy == "earliest":
        when = np.full(n, np.inf) if date is None else np.where(np.isnan(date), np.inf, date)
        order = np.lexsort((position, when))
    else:
        raise ValueError(f"unknown canonical policy {policy!r}")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = position
    return rank


def rank_key(policy: str, position: int, key_len: int, date: float = math.nan) -> tuple:
    """One paragraph's place under ``policy`` as a sortable tuple: sorting paragraphs by it gives
    the order ``paragraph_rank`` numbers (for engines that never hold every paragraph at once).

    >>> sorted(range(4), key=lambda i: rank_key("longest", i, [3, 9, 9, 1][i]))
    [1, 2, 0, 3]
    >>> rank_key("earliest", 5, 9, math.nan) > rank_key("earliest", 9, 9, 20.0)
    True
    """
    if policy == "longest":
        return (-key_len, position)
    if policy == "first":
        return (position,)
    if policy == "earliest":
        return (math.inf if math.isnan(date) else date, position)
    raise ValueError(f"unknown canonical policy {policy!r}")


@dataclass(frozen=True)
class MemberFacts:
    """What a reason needs to know of one member."""

    key_len: int
    path: str
    line: int
    date: float = math.nan  # seconds since the epoch; NaN: undated


@dataclass(frozen=True)
class Standing:
    """What a reason says of a cluster's canonical beside its other members: enough to explain
    any policy's choice, and computable for every cluster at once from arrays (``standing``
    gives it for one cluster of ``MemberFacts``)."""

    canonical: MemberFacts
    passed_over: int  # earlier members under the policy that are fragments of a longer one
    same_length: int  # other members as long as the canonical
    next_length: int  # the longest other member's length (0: no other)
    same_date: int  # other members dated as the canonical (none when it is undated)
    next_date: float  # the earliest other member's date (NaN: no other is dated)


def standing(canonical: MemberFacts, others: list[MemberFacts], fragments_passed_over: int = 0) -> Standing:
    """The ``Standing`` of ``canonical`` over ``others``."""
    dated = [m.date for m in others if not math.isnan(m.date)]
    return Standing(
        canonical, fragments_passed_over, sum(1 for m in others if m.key_len == canonical.key_len),
        max((m.key_len for m in others), default=0), sum(1 for m in others if m.date == canonical.date), min(dated, default=math.nan),
    )


def reason(policy: str, canonical: MemberFacts, others: list[MemberFacts], fragments_passed_over: int = 0) -> str:
    """One sentence saying why ``canonical`` was chosen over ``others``.

    ``fragments_passed_over`` members came before it under the policy but are fragments (partial
    copies) of another member, which a canonical never is (see cluster.fragments).

    >>> reason("longest", MemberFacts(40, "a.txt", 3), [MemberFacts(31, "b.txt", 1)])
    'longest: 40 normalized characters, the next longest member has 31'
    >>> reason("longest", MemberFacts(40, "a.txt", 3), [MemberFacts(40, "b.txt", 1)])
    'longest: 40 normalized characters, tied with 1 other member; first of them in corpus order'
    >>> reason("first", MemberFacts(40, "a.txt", 3), [MemberFacts(40, "b.txt", 1)])
    'first in corpus order: a.txt line 3 comes before every other member'
    >>> reason("first", MemberFacts(40, "b.txt", 3), [MemberFacts(9, "a.txt", 1)], fragments_passed_over=1)
    'first whole paragraph in corpus order: b.txt line 3; 1 earlier member is a fragment of a longer one'
    """
    return explain(policy, standing(canonical, others, fragments_passed_over))


def explain(policy: str, s: Standing) -> str:
    """The sentence of ``reason`` from a cluster's ``Standing``."""
    canonical = s.canonical
    if policy == "longest":
        if s.same_length:
            plural = "member" if s.same_length == 1 else "members"
            return (
                f"longest: {canonical.key_len} normalized characters, tied with {s.same_length} other "
                f"{plural}; first of them in corpus order"
            )
        return f"longest: {canonical.key_len} normalized characters, the next longest member has {s.next_length}"
    if policy == "first":
        if s.passed_over:
            plural = "member is a fragment" if s.passed_over == 1 else "members are fragments"
            return (
                f"first whole paragraph in corpus order: {canonical.path} line {canonical.line}; "
                f"{s.passed_over} earlier {plural} of a longer one"
            )
        return f"first in corpus order: {canonical.path} line {canonical.line} comes before every other member"
    if policy == "earliest":
        return _earliest_reason(s)
    raise ValueError(f"unknown canonical policy {policy!r}")


def _day(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment.time() != dt.time() else moment.strftime("%Y-%m-%d")


def _earliest_reason(s: Standing) -> str:
    """
    >>> a, b = MemberFacts(40, "a.jsonl:3", 1, 0.0), MemberFacts(40, "b.jsonl:1", 1, 86400.0)
    >>> _earliest_reason(standing(a, [b]))
    'earliest: dated 1970-01-01 (a.jsonl:3 line 1); the next earliest member is dated 1970-01-02'
    >>> _earliest_reason(standing(MemberFacts(40, "a.txt", 2), [MemberFacts(40, "b.txt", 1)]))
    'earliest: no member has a date; first in corpus order: a.txt line 2'
    """
    canonical = s.canonical
    where = f"{canonical.path} line {canonical.line}"
    fragments = ""
    if s.passed_over:
        plural = "member is a fragment" if s.passed_over == 1 else "members are fragments"
        fragments = f"; {s.passed_over} earlier {plural} of a longer one"
    if math.isnan(canonical.date):
        return f"earliest: no member has a date; first in corpus order: {where}{fragments}"
    if s.same_date:
        plural = "member" if s.same_date == 1 else "members"
        return f"earliest: dated {_day(canonical.date)} ({where}), tied with {s.same_date} other {plural}; first of them in corpus order{fragments}"
    runner_up = f"the next earliest member is dated {_day(s.next_date)}" if not math.isnan(s.next_date) else "no other member has a date"
    return f"earliest: dated {_day(canonical.date)} ({where}); {runner_up}{fragments}"
