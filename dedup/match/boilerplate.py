"""Boilerplate: page furniture, told apart from real text reuse.

Furniture (navigation, banners, share buttons, "related articles", copyright lines, the
"下面是小编为大家整理的…" intro, the "同志们:" salutation) is part of a page's template, not of
what the page says: it is short, takes a small share of its page, and recurs where a template
puts it. A long content paragraph copied into many pages is the opposite: the most interesting
reuse of all, however many pages hold it. So a cluster is *boilerplate* when

* its paragraphs are short: no more than ``LONG_SHARE`` of its members have over ``MAX_CHARS``
  characters (a long paragraph that holds a heading as a partial copy keeps its cluster out; a
  footer glued once to the last paragraph of a page does not), and the median member takes at
  most ``MAX_PAGE_SHARE`` of its page's characters;
* it recurs: ``MIN_MEMBERS`` members or more; and
* it sits where furniture sits, by one of three signals:

  - **the same place of the page**: at least ``PLACED_SHARE`` of its members (in pages of more
    than ``2 * EDGE`` paragraphs, where a place means something) lie within ``EDGE`` paragraphs
    of the head of their page, or as many within ``EDGE`` of the tail, in ``MIN_DOCS``
    documents or more;
  - **across the pages of a site**: in some folder or URL host (``site_keys``) of
    ``MIN_SITE_DOCS`` documents or more, at least ``SITE_SHARE`` of them, and ``MIN_DOCS`` at
    least, hold it (between-section lines, slogans: furniture wherever it sits on the page);
  - **between the sections of a page**: ``REPEATS`` times or more in one document (the intro or
    heading a page of several speeches repeats before each one; members on consecutive
    paragraphs, a line broken in two, count once).

Content copied at random places of unrelated pages meets none of them; a corpus without sites
(one flat folder, records named without a URL) still has the first and the third, and its root
folder as one site. Each cluster is decided from its own members and the number of documents
per site alone, so any split of the clusters (Spark partitions, an update) decides the same.
"""

from __future__ import annotations

from collections import Counter
from itertools import chain
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple
from urllib.parse import urlsplit

import numpy as np

MAX_CHARS = 250
LONG_SHARE = 0.1
MAX_PAGE_SHARE = 0.25
MIN_MEMBERS = 3
MIN_DOCS = 3
EDGE = 3
PLACED_SHARE = 0.8
MIN_SITE_DOCS = 5
SITE_SHARE = 0.5
REPEATS = 3


class Members(NamedTuple):
    """The members of some clusters (every member of each), one array entry per member."""

    cluster: np.ndarray  # cluster id
    doc: np.ndarray  # its document (any integer that tells documents apart)
    idx: np.ndarray  # 0-based position of the paragraph in its document
    chars: np.ndarray  # characters of the paragraph
    doc_paragraphs: np.ndarray  # paragraphs of its document
    doc_chars: np.ndarray  # characters of its document


def site_keys(path: str) -> tuple[str, ...]:
    """The groups of pages a document belongs to, by its stored path, outermost first: the
    corpus root (``""``), then every folder above it, or the host and folders of a URL.

    >>> site_keys("s03/d000/000123.txt")
    ('', 's03', 's03/d000')
    >>> site_keys("https://WWW.Example.com/news/2024/a.html")
    ('', 'www.example.com', 'www.example.com/news', 'www.example.com/news/2024')
    >>> site_keys("record-17")
    ('',)
    """
    if "://" in path:
        url = urlsplit(path)
        parts = [url.netloc.lower(), *url.path.split("/")[1:-1]]
    else:
        parts = path.split("/")[:-1]
    keys = [""]
    for part in parts:
        keys.append(f"{keys[-1]}/{part}" if len(keys) > 1 else part)
    return tuple(keys)


def site_sizes(paths: Iterable[str]) -> Counter[str]:
    """Documents per site key (``site_keys``) of a corpus, given every document's path."""
    return Counter(key for path in paths for key in site_keys(path))


def find_boilerplate(members: Members, sites_of: Mapping[int, Sequence[str]], sizes: Mapping[str, int]) -> set[int]:
    """The ids of the boilerplate clusters among those of ``members`` (see the module).

    ``sites_of`` gives the site keys of each document of the members, ``sizes`` the documents
    of each site key in the whole corpus.

    >>> def page(doc, idx, n=20, chars=30, cluster=1):
    ...     return (cluster, doc, idx, chars, n, 3000)
    >>> def members(rows):
    ...     return Members(*map(np.array, zip(*rows)))
    >>> sites = {d: ("",) for d in range(10)}
    >>> sizes = {"": 10}
    >>> find_boilerplate(members([page(d, 0) for d in range(3)]), sites, sizes)  # at the head of 3 pages
    {1}
    >>> find_boilerplate(members([page(d, 9) for d in range(3)]), sites, sizes)  # mid-page in 3 of 10
    set()
    >>> find_boilerplate(members([page(d, 0, chars=1318) for d in range(3)]), sites, sizes)  # long
    set()
    """
    if not len(members.cluster):
        return set()
    cluster = np.asarray(members.cluster, dtype=np.int64)
    doc = np.asarray(members.doc, dtype=np.int64)
    idx, chars = np.asarray(members.idx, dtype=np.int64), np.asarray(members.chars, dtype=np.int64)
    n, page = np.asarray(members.doc_paragraphs, dtype=np.int64), np.asarray(members.doc_chars, dtype=np.int64)
    ids, c = np.unique(cluster, return_inverse=True)
    k = len(ids)
    size = np.bincount(c, minlength=k)

    long = np.bincount(c, weights=chars > MAX_CHARS, minlength=k)
    short = (long <= LONG_SHARE * size) & (_medians(c, chars / np.maximum(page, 1), k) <= MAX_PAGE_SHARE)

    docs, d = np.unique(doc, return_inverse=True)
    pair_codes = np.unique(c * len(docs) + d)  # distinct (cluster, document)
    pair_cluster, pair_doc = np.divmod(pair_codes, len(docs))
    n_docs = np.bincount(pair_cluster, minlength=k)
    repeats = np.zeros(k, dtype=np.int64)
    np.maximum.at(repeats, *_occurrences(c, doc, idx))

    informative = n > 2 * EDGE
    n_informative = np.bincount(c, weights=informative, minlength=k)
    placed = np.zeros(k, dtype=bool)
    for at_end in (idx < EDGE, n - 1 - idx < EDGE):  # all at the head, or all at the tail
        placed |= np.bincount(c, weights=informative & at_end, minlength=k) >= PLACED_SHARE * n_informative
    placed &= (n_docs >= MIN_DOCS) & (n_informative > 0)

    in_site = _site_furniture(pair_cluster, docs[pair_doc], k, sites_of, sizes)
    found = (size >= MIN_MEMBERS) & short & (placed | in_site | (repeats >= REPEATS))
    return set(ids[found].tolist())


def _occurrences(c: np.ndarray, doc: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cluster, occurrences) per distinct (cluster, document): members of a cluster on
    consecutive paragraphs of a page (a line broken in two) are one occurrence.

    >>> _occurrences(np.array([0, 0, 0, 0]), np.array([1, 1, 1, 2]), np.array([4, 5, 9, 0]))
    (array([0, 0]), array([2, 1]))
    """
    order = np.lexsort((idx, doc, c))
    c, doc, idx = c[order], doc[order], idx[order]
    same_doc = np.r_[False, (c[1:] == c[:-1]) & (doc[1:] == doc[:-1])]
    starts = ~(same_doc & np.r_[False, idx[1:] == idx[:-1] + 1])
    first_of_doc = np.nonzero(~same_doc)[0]
    return c[first_of_doc], np.add.reduceat(starts.astype(np.int64), first_of_doc)


def _medians(group: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """The (lower) median of ``values`` in each of ``k`` groups (every group non-empty)."""
    order = np.lexsort((values, group))
    starts = np.searchsorted(group[order], np.arange(k))
    counts = np.bincount(group, minlength=k)
    return values[order][starts + (counts - 1) // 2]


def _site_furniture(pair_cluster: np.ndarray, pair_doc: np.ndarray, k: int, sites_of: Mapping[int, Sequence[str]], sizes: Mapping[str, int]) -> np.ndarray:
    """Mask of the clusters (of ``k``; one (cluster, document) pair per document holding one)
    held by ``SITE_SHARE`` or more of the documents of a site of ``MIN_SITE_DOCS`` or more."""
    docs, at = np.unique(pair_doc, return_inverse=True)
    n_keys, flat, names = sites_of.codes(docs) if isinstance(sites_of, SitesOf) else _codes(docs, sites_of)
    size = np.array([sizes[name] for name in names], dtype=np.float64)
    kept = (size >= MIN_SITE_DOCS)[flat]  # only sites of enough documents count
    n_keys = np.bincount(np.repeat(np.arange(len(docs)), n_keys)[kept], minlength=len(docs))
    flat = flat[kept]
    found = np.zeros(k, dtype=bool)
    if not len(flat):
        return found
    # every pair once per site key of its document
    per_pair = n_keys[at]
    first = np.repeat(np.cumsum(n_keys)[at] - per_pair, per_pair)
    within = np.arange(int(per_pair.sum())) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
    held, count = np.unique(np.repeat(pair_cluster, per_pair) * len(names) + flat[first + within], return_counts=True)
    cluster, key = np.divmod(held, len(names))
    need = np.maximum(MIN_DOCS, SITE_SHARE * size)
    found[cluster[count >= need[key]]] = True
    return found


def _codes(docs: np.ndarray, sites_of: Mapping[int, Sequence[str]]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The site keys of ``docs`` as codes: (keys per document, the codes document after
    document, the key of each code)."""
    code: dict[str, int] = {}
    keys = [[code.setdefault(key, len(code)) for key in sites_of[d]] for d in docs.tolist()]
    n_keys = np.array([len(x) for x in keys], dtype=np.int64)
    return n_keys, np.fromiter(chain.from_iterable(keys), dtype=np.int64, count=int(n_keys.sum())), list(code)


def corpus_boilerplate(paras, member_paragraphs: Sequence[int], member_clusters: Sequence[int], sizes: Mapping[str, int] | None = None,
                       sites: "SitesOf | None" = None) -> set[int]:
    """The boilerplate clusters of a corpus held as arrays in corpus order (``local.Paragraphs``:
    ``doc`` non-decreasing, ``length``, ``ids``, ``paths``), given every member as a paragraph id
    and its cluster id: the one call of the local engine, ``dedup.deduplicate`` and updates.
    ``sizes``: ``site_sizes(paras.paths)`` when the caller keeps it; ``sites``: a ``SitesOf``
    of ``paras.paths`` when the caller keeps one (appends ask for the same documents again)."""
    pids = np.asarray(member_paragraphs, dtype=np.int64)
    if not len(pids):
        return set()
    at = _positions(paras.ids, pids)
    doc = paras.doc[at]
    n_docs = len(paras.paths)
    first = np.searchsorted(paras.doc, np.arange(n_docs + 2))  # paragraph position where each document starts
    doc_paragraphs = np.bincount(paras.doc, minlength=n_docs + 1)
    doc_chars = np.bincount(paras.doc, weights=paras.length, minlength=n_docs + 1).astype(np.int64)
    members = Members(np.asarray(member_clusters, dtype=np.int64), doc, at - first[doc], paras.length[at], doc_paragraphs[doc], doc_chars[doc])
    involved = np.unique(doc).tolist()
    sites_of = sites if sites is not None else {d: site_keys(paras.paths[d - 1]) for d in involved}
    return find_boilerplate(members, sites_of, site_sizes(paras.paths) if sizes is None else sizes)


class SitesOf(dict):
    """Document position (1-based, in ``paths``) -> its ``site_keys``, found when first asked
    and kept (``paths`` may grow: a position once asked never changes its path); ``codes``
    gives them as arrays, kept for every document (an append decides clusters of thousands of
    documents: their keys looked up one by one were most of it)."""

    def __init__(self, paths: Sequence[str]):
        super().__init__()
        self.paths = paths
        self.code: dict[str, int] = {}
        self.start = np.zeros(2, dtype=np.int64)  # codes of document d: flat[start[d]:start[d + 1]] (none for d = 0)
        self.flat = np.zeros(0, dtype=np.int64)

    def __missing__(self, d: int) -> tuple[str, ...]:
        keys = self[d] = site_keys(self.paths[d - 1])
        return keys

    def codes(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``_codes`` of ``docs``, from the arrays (extended to the documents added since)."""
        known = len(self.start) - 1
        if known <= len(self.paths):
            more = [[self.code.setdefault(key, len(self.code)) for key in self[d]] for d in range(known, len(self.paths) + 1)]
            self.start = np.concatenate((self.start, self.start[-1] + np.cumsum([len(x) for x in more], dtype=np.int64)))
            self.flat = np.concatenate((self.flat, np.fromiter(chain.from_iterable(more), dtype=np.int64)))
        docs = np.asarray(docs, dtype=np.int64)
        n_keys = self.start[docs + 1] - self.start[docs]
        within = np.arange(int(n_keys.sum())) - np.repeat(np.cumsum(n_keys) - n_keys, n_keys)
        return n_keys, self.flat[np.repeat(self.start[docs], n_keys) + within], list(self.code)


def _positions(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each of ``wanted`` stands in ``ids`` (distinct): found by binary search, without a
    sort when ``ids`` ascend already (paragraph ids in corpus order do, but after an update
    that put a document's paragraphs back in place). An append decides a few clusters against a
    corpus of 150k paragraphs: the sort was most of it.

    >>> _positions(np.array([2, 5, 9]), np.array([9, 2])).tolist(), _positions(np.array([5, 2, 9]), np.array([9, 2])).tolist()
    ([2, 0], [2, 1])
    """
    if len(ids) < 2 or bool((ids[1:] > ids[:-1]).all()):
        return np.searchsorted(ids, wanted)
    by_id = np.argsort(ids, kind="stable")
    return by_id[np.searchsorted(ids, wanted, sorter=by_id)]
