"""The stream index's whole-batch verification (store/batch.py) against the key-by-key one."""

from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st

from dedup.config import ScanConfig
from dedup.store.batch import best_copies
from dedup.store.index import best_scored, first_verified


@st.composite
def candidate_lists(draw):
    """Owners with 0-40 candidates each: (own set size, [(their size, intersection)])."""
    owners = []
    for _ in range(draw(st.integers(1, 4))):
        mine = draw(st.integers(1, 60))
        rows = []
        for _ in range(draw(st.integers(0, 40))):
            theirs = draw(st.integers(1, 120))
            rows.append((theirs, draw(st.integers(0, min(mine, theirs)))))
        owners.append((mine, rows))
    return owners


@given(owners=candidate_lists(), threshold=st.sampled_from([0.3, 0.6, 0.9]))
def test_best_copies_picks_what_first_verified_picks_for_each_owner(owners, threshold):
    """The first chunk of candidates holding a copy, its best, the first of equals: the same
    candidate, relation and scores as first_verified over best_scored, owner by owner."""
    config = ScanConfig(threshold=threshold)
    rule = config.match_rule()
    owner, place, mine, theirs, inter = (np.array(v, dtype=np.int64) for v in zip(*[
        (o, p, m, t, i) for o, (m, rows) in enumerate(owners) for p, (t, i) in enumerate(rows)
    ])) if any(rows for _, rows in owners) else (np.zeros(0, np.int64),) * 5
    got = best_copies(owner, place, mine, theirs, inter, config, rule)
    found = {o: (row, near, jac, con) for o, row, near, jac, con in zip(*(x.tolist() for x in got))}
    start = 0
    for o, (m, rows) in enumerate(owners):
        scored = lambda ids: best_scored(((k, m, rows[k][0], rows[k][1]) for k in ids), config, rule)  # noqa: E731
        expected = first_verified(scored, list(range(len(rows))))
        if expected is None:
            assert o not in found
        else:
            k, relation, jac, con = expected
            assert found[o] == (start + k, relation == "near", jac, con)
        start += len(rows)
