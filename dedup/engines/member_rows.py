"""Rows of the ``members`` table held as arrays, and the rows that differ between two sets of
them: what the store stage of an update or an append writes.

A cluster of thousands of exact copies that gains one paragraph is re-clustered whole, but
only the new paragraph's row changes. Comparing the rows before and after as Python dicts of
tuples cost a few microseconds a member (most of an append's store stage when it touches a
big cluster); as sorted arrays it is a few numpy passes, and Python tuples are made only for
the rows written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

RELATIONS = ("canonical", "exact", "near", "contained")  # relation by code
CODE = {name: code for code, name in enumerate(RELATIONS)}


@dataclass(frozen=True)
class MemberRows:
    """Members rows by paragraph id (ascending, distinct): cluster, similarity, relation code
    (``RELATIONS``), containment, with the values as stored (similarity rounded to 6 places)."""

    pid: np.ndarray
    cluster: np.ndarray
    similarity: np.ndarray
    relation: np.ndarray
    containment: np.ndarray

    @staticmethod
    def of(pid, cluster, similarity, relation, containment) -> "MemberRows":
        """The rows given column by column, in any order of ``pid``."""
        pid = np.asarray(pid, dtype=np.int64)
        order = np.argsort(pid, kind="stable")
        return MemberRows(pid[order], np.asarray(cluster, dtype=np.int64)[order], np.asarray(similarity, dtype=np.float64)[order],
                          np.asarray(relation, dtype=np.int8)[order], np.asarray(containment, dtype=np.float64)[order])

    @staticmethod
    def from_rows(rows: Iterable[tuple]) -> "MemberRows":
        """From rows (paragraph id, cluster id, similarity, relation, containment) as the table holds them."""
        rows = list(rows)
        if not rows:
            return MemberRows.of([], [], [], [], [])
        pid, cluster, sim, relation, con = zip(*rows)
        return MemberRows.of(pid, cluster, sim, [CODE[r] for r in relation], con)

    def __len__(self) -> int:
        return len(self.pid)

    def take(self, mask: np.ndarray) -> "MemberRows":
        return MemberRows(self.pid[mask], self.cluster[mask], self.similarity[mask], self.relation[mask], self.containment[mask])

    def rows(self) -> Iterator[tuple]:
        """The rows as the table takes them: (paragraph id, cluster id, similarity, relation, containment)."""
        for pid, cid, sim, code, con in zip(self.pid.tolist(), self.cluster.tolist(), self.similarity.tolist(), self.relation.tolist(),
                                            self.containment.tolist()):
            yield pid, cid, sim, RELATIONS[code], con

    def by_pid(self) -> dict[int, tuple]:
        """paragraph id -> (cluster id, similarity, relation, containment)."""
        return {row[0]: row[1:] for row in self.rows()}


def built_rows(built, cluster_ids: np.ndarray) -> MemberRows:
    """The members rows of ``built`` (``local.ClusterRows``) with its clusters numbered by
    ``cluster_ids`` (built cluster id -> final id), the values exactly as ``ClusterRows.members``
    gives them (Python's ``round``, once per distinct value)."""
    compared = built.relation == 2
    sim = np.ones(len(built.member_ids))
    con = np.ones(len(built.member_ids))
    sim[compared], con[compared] = _rounded(built.similarity[compared]), _rounded(built.containment[compared])
    relation = built.relation.astype(np.int8)
    relation[compared] = np.where(sim[compared] >= built.threshold - 1e-12, CODE["near"], CODE["contained"])
    return MemberRows.of(built.member_ids, cluster_ids[built.member_clusters], sim, relation, con)


def _rounded(values: np.ndarray) -> np.ndarray:
    """``round(v, 6)`` of every value (numpy's rounding can differ from Python's in the last place)."""
    distinct, at = np.unique(values, return_inverse=True)
    return np.array([round(v, 6) for v in distinct.tolist()], dtype=np.float64)[at] if len(values) else values.astype(np.float64)


def changed(was: MemberRows, now: MemberRows) -> tuple[MemberRows, MemberRows]:
    """(the rows of ``was`` that ``now`` does not hold as they are, the rows of ``now`` that
    ``was`` does not hold as they are): the rows to delete and those to insert."""
    _, i, j = np.intersect1d(was.pid, now.pid, assume_unique=True, return_indices=True)
    same = ((was.cluster[i] == now.cluster[j]) & (was.similarity[i] == now.similarity[j]) & (was.relation[i] == now.relation[j])
            & (was.containment[i] == now.containment[j]))
    keep_was, keep_now = np.ones(len(was), dtype=bool), np.ones(len(now), dtype=bool)
    keep_was[i[same]], keep_now[j[same]] = False, False
    return was.take(keep_was), now.take(keep_now)


def moved(was: MemberRows, now: MemberRows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paragraphs whose cluster id changes, given the changed rows (``changed``): (ids that
    leave every cluster, ids that get a cluster id, that cluster id)."""
    gone = np.setdiff1d(was.pid, now.pid, assume_unique=True)
    _, i, j = np.intersect1d(was.pid, now.pid, assume_unique=True, return_indices=True)
    same = np.zeros(len(now), dtype=bool)
    same[j[was.cluster[i] == now.cluster[j]]] = True
    return gone, now.pid[~same], now.cluster[~same]


@dataclass(frozen=True)
class HeldMembers:
    """The member row of every paragraph of a corpus, by paragraph position (cluster -1: in
    none), as the live corpus of the service keeps them (delta.py): an append reads the rows it
    replaces from here instead of the members table."""

    cluster: np.ndarray
    similarity: np.ndarray
    relation: np.ndarray
    containment: np.ndarray

    FILL = (-1, 0.0, 0, 0.0)  # a paragraph in no cluster

    @staticmethod
    def load(conn, ids: np.ndarray) -> "HeldMembers":
        """Every row of the members table, placed by paragraph id (``ids``: paragraphs.id by position)."""
        rows = MemberRows.from_rows(conn.execute("SELECT paragraph_id, cluster_id, similarity, relation, containment FROM members"))
        held = HeldMembers(np.full(len(ids), -1, np.int64), np.zeros(len(ids)), np.zeros(len(ids), np.int8), np.zeros(len(ids)))
        held.put(positions(ids, rows.pid), rows)
        return held

    def columns(self) -> tuple[np.ndarray, ...]:
        return self.cluster, self.similarity, self.relation, self.containment

    def rows_at(self, at: np.ndarray, ids: np.ndarray) -> MemberRows:
        """The rows of the paragraphs at positions ``at`` that are in a cluster (``ids``: paragraphs.id by position)."""
        at = at[self.cluster[at] >= 0]
        return MemberRows.of(ids[at], self.cluster[at], self.similarity[at], self.relation[at], self.containment[at])

    def put(self, at: np.ndarray, rows: MemberRows) -> None:
        """Hold ``rows`` at the positions ``at`` (one a row)."""
        self.cluster[at], self.similarity[at], self.relation[at], self.containment[at] = rows.cluster, rows.similarity, rows.relation, rows.containment

    def clear(self, at: np.ndarray) -> None:
        self.cluster[at] = -1


def positions(ids: np.ndarray, wanted, among: np.ndarray | None = None) -> np.ndarray:
    """Positions of the paragraphs with the ids ``wanted`` (all present), given ``ids``, the
    paragraph ids by position; ``among``: positions to look in, when known."""
    among = np.arange(len(ids)) if among is None else among
    sub_ids = ids[among]
    order = np.argsort(sub_ids, kind="stable")
    return among[order][np.searchsorted(sub_ids[order], np.asarray(wanted, dtype=np.int64))]
