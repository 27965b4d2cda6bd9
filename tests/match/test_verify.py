"""Exact verification: batch Jaccard equals Python sets, symmetric, in [0, 1]."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dedup.match import verify
from dedup.match.signatures import shingle_hashes
from dedup.match.verify import MatchRule, ShingleSets, jaccard, score_pairs

keys_strategy = st.lists(st.text(alphabet="abcde甲乙丙", min_size=1, max_size=25), min_size=2, max_size=10)


def grams(s, k=3):
    return {s[i : i + k] for i in range(len(s) - k + 1)} if len(s) >= k else {s}


@given(keys_strategy, st.data())
def test_jaccard_matches_python_sets_and_is_symmetric(keys, data):
    sets = ShingleSets.from_shingles(*shingle_hashes(keys, 3))
    n = len(keys)
    a = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=20)))
    b = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=len(a), max_size=len(a))))
    forward, backward = jaccard(sets, a, b), jaccard(sets, b, a)
    assert np.allclose(forward, backward)
    assert ((forward >= 0) & (forward <= 1)).all()
    for i, j, got in zip(a.tolist(), b.tolist(), forward.tolist()):
        sa, sb = grams(keys[i]), grams(keys[j])
        assert abs(got - len(sa & sb) / len(sa | sb)) < 1e-12
        if i == j:
            assert got == 1.0


def test_batches_give_the_same_answer(monkeypatch):
    keys = ["abcdefgh" * 3, "abcdefgx" * 3, "zzzzabcd", "abcdefgh" * 3]
    sets = ShingleSets.from_shingles(*shingle_hashes(keys, 3))
    a, b = np.array([0, 0, 1, 2, 0]), np.array([1, 3, 2, 3, 2])
    whole = jaccard(sets, a, b)
    monkeypatch.setattr(verify, "PAIR_BATCH_ELEMENTS", 1)
    assert np.allclose(jaccard(sets, a, b), whole)


def test_verify_keeps_only_pairs_at_or_above_threshold():
    keys = ["abcdefghij", "abcdefghiX", "qrstuvwxyz"]
    sets = ShingleSets.from_shingles(*shingle_hashes(keys, 3))
    ok, sim, _ = MatchRule(0.7).apply(sets, np.array([0, 0]), np.array([1, 2]))
    assert ok.tolist() == [True, False]
    assert abs(sim[0] - 7 / 9) < 1e-12


def test_containment_finds_a_truncated_copy_below_the_jaccard_threshold():
    full = "abcdefghijklmnopqrstuvwxyz0123456789"
    keys = [full, full[:20], full[10:20] + "ABCDEFGHIJKLMNOPQRST"]
    sets = ShingleSets.from_shingles(*shingle_hashes(keys, 3))
    jac, con = score_pairs(sets, np.array([0, 0]), np.array([1, 2]))
    assert jac[0] < 0.8 and con[0] == 1.0
    assert con[1] < 0.6
    rule = MatchRule(0.8, containment=0.9, min_contained=5)
    assert rule.apply(sets, np.array([0, 0]), np.array([1, 2]))[0].tolist() == [True, False]
    # too few shingles in the smaller key: a stock phrase is not a partial copy
    assert not MatchRule(0.8, containment=0.9, min_contained=100).apply(sets, np.array([0]), np.array([1]))[0].any()


def test_equal_length_pairs_are_judged_by_jaccard_alone():
    base = "abcdefghijklmnopqrstuvwxyz0123456789"
    edited = base[:18] + "#" + base[19:]  # same length, one edit
    sets = ShingleSets.from_shingles(*shingle_hashes([base, edited], 3))
    jac, con = score_pairs(sets, np.array([0]), np.array([1]))
    assert con[0] >= 0.9 > jac[0]
    assert not MatchRule(jac[0] + 0.01, containment=0.9, min_contained=5).apply(sets, np.array([0]), np.array([1]))[0].any()


@given(
    st.integers(1, 60), st.integers(1, 60), st.data(),
    st.sampled_from([0.5, 0.6, 0.8]), st.sampled_from([0.0, 0.8, 0.9]), st.sampled_from([0, 10]),
)
def test_scalar_rule_agrees_with_the_vectorized_one(size_a, size_b, data, threshold, containment, min_contained):
    """MatchRule.accepts (one pair, for index lookups) must decide exactly as MatchRule.apply."""
    inter = data.draw(st.integers(0, min(size_a, size_b)))
    universe = np.arange(size_a + size_b - inter, dtype=np.uint64)
    a = universe[:size_a]
    b = np.concatenate([universe[:inter], universe[size_a:]])
    sets = ShingleSets(np.concatenate([a, np.sort(b)]), np.array([0, size_a, size_a + size_b]))
    rule = MatchRule(threshold, containment, min_contained)
    ok, jac, con = rule.apply(sets, np.array([0]), np.array([1]))
    s_ok, s_jac, s_con = rule.accepts(size_a, size_b, inter)
    assert (bool(ok[0]), float(jac[0]), float(con[0])) == (s_ok, s_jac, s_con)
