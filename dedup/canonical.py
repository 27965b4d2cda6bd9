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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POLICIES = ("first", "longest")


def paragraph_rank(policy: str, key_len: np.ndarray) -> np.ndarray:
    """Rank of every paragraph under ``policy`` (0 = best); paragraphs are in corpus order.

    ``key_len[i]`` is the normalized length of paragraph i.

    >>> paragraph_rank("longest", np.array([3, 9, 9, 1])).tolist()
    [2, 0, 1, 3]
    >>> paragraph_rank("first", np.array([3, 9, 9, 1])).tolist()
    [0, 1, 2, 3]
    """
    n = len(key_len)
    position = np.arange(n)
    if policy == "longest":
        order = np.lexsort((position, -np.asarray(key_len)))
    elif policy == "first":
        order = position
    else:
        raise ValueError(f"unknown canonical policy {policy!r}")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = position
    return rank


@dataclass(frozen=True)
class MemberFacts:
    """What a reason needs to know of one member."""

    key_len: int
    path: str
    line: int


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
    if policy == "longest":
        ties = sum(1 for m in others if m.key_len == canonical.key_len)
        if ties:
            plural = "member" if ties == 1 else "members"
            return (
                f"longest: {canonical.key_len} normalized characters, tied with {ties} other "
                f"{plural}; first of them in corpus order"
            )
        runner_up = max((m.key_len for m in others), default=0)
        return f"longest: {canonical.key_len} normalized characters, the next longest member has {runner_up}"
    if policy == "first":
        if fragments_passed_over:
            plural = "member is a fragment" if fragments_passed_over == 1 else "members are fragments"
            return (
                f"first whole paragraph in corpus order: {canonical.path} line {canonical.line}; "
                f"{fragments_passed_over} earlier {plural} of a longer one"
            )
        return f"first in corpus order: {canonical.path} line {canonical.line} comes before every other member"
    raise ValueError(f"unknown canonical policy {policy!r}")
