"""Exact verification: batch Jaccard equals Python sets, symmetric, in [0, 1]."""

import numpy as np
import pytest
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


@given(
    st.integers(1, 90), st.integers(1, 90), st.data(),
    st.sampled_from([0.0, 0.8, 0.9]), st.sampled_from([0.0, 0.7, 0.8, 0.95]), st.sampled_from([0, 20, 40]),
)
def test_scalar_rule_agrees_with_the_vectorized_one_with_a_long_tier(size_a, size_b, data, containment, long_containment, long_min):
    inter = data.draw(st.integers(0, min(size_a, size_b)))
    universe = np.arange(size_a + size_b - inter, dtype=np.uint64)
    b = np.concatenate([universe[:inter], universe[size_a:]])
    sets = ShingleSets(np.concatenate([universe[:size_a], np.sort(b)]), np.array([0, size_a, size_a + size_b]))
    rule = MatchRule(0.6, containment, 10, long_containment, long_min)
    ok, jac, con = rule.apply(sets, np.array([0]), np.array([1]))
    assert (bool(ok[0]), float(jac[0]), float(con[0])) == rule.accepts(size_a, size_b, inter)


def _default_rule_on(texts):
    """(is a copy, containment) of texts[0] against each other text, on the default config's
    shingles and match rule."""
    from dedup.config import ScanConfig
    from dedup.text.normalize import normalize

    config = ScanConfig()
    dense_k, k = config.shingle_sizes()
    sets = ShingleSets.from_shingles(*shingle_hashes([normalize(t) for t in texts], k, config.seed, dense_k=dense_k))
    rest = np.arange(1, len(texts))
    ok, _, con = config.match_rule().apply(sets, np.zeros(len(rest), dtype=np.int64), rest)
    return ok.tolist(), con.tolist(), sets.sizes.tolist()


# Real text nobody here wrote: the GPL's warranty paragraph (as in Debian's copyright files).
WARRANTY = (
    "This program is distributed in the hope that it will be useful, but WITHOUT ANY WARRANTY; "
    "without even the implied warranty of MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE. "
    "See the GNU General Public License for more details. You should have received a copy of "
    "the GNU General Public License along with this program; if not, write to the Free Software "
    "Foundation, Inc., 51 Franklin Street, Fifth Floor, Boston, MA 02110-1301, USA."
)


def test_a_long_half_with_an_inserted_sentence_is_a_partial_copy():
    """The first half of the paragraph broken in two, with a sentence of its own put in: about
    85% of its shingles are in the whole, a copy that the 0.9 of short keys would miss."""
    half = WARRANTY[: WARRANTY.index(" You should")]
    inserted = half.replace("PURPOSE. ", "PURPOSE. Nobody answers mail about it. ")
    ok, con, sizes = _default_rule_on([inserted, WARRANTY])
    assert min(sizes) >= 40 and 0.8 <= con[0] < 0.9
    assert ok == [True]
    from dedup.match.verify import MatchRule as Rule

    assert Rule(0.6, 0.9, 10).accepts(sizes[0], sizes[1], round(con[0] * sizes[0]))[0] is False


def test_short_lines_sharing_a_frame_are_not_partial_copies():
    """One holder's copyright notices of other years (Debian's copyright files have hundreds):
    80-90% of the short line's shingles are in the longer one, which is no copy of it."""
    line = "Copyright: 2011 Werner Fink <werner@suse.de>"
    longer = "Copyright: 2012 Werner Fink <werner@suse.de>\n           2003-2009 SUSE Linux Products GmbH"
    ok, con, sizes = _default_rule_on([line, longer])
    assert sizes[0] < 40 and 0.8 <= con[0] < 0.9
    assert ok == [False]


def test_the_long_tier_never_judges_equal_lengths_by_containment():
    """Two long paragraphs of about one length stay judged by Jaccard (0.8 containment at
    equal size is Jaccard 0.67, which would lower the threshold quietly)."""
    edited = WARRANTY.replace("hope", "hape").replace("MERCHANTABILITY", "MERCHANTIBILITY").replace("Boston", "Bostan")
    rule = MatchRule(0.95, 0.9, 10, 0.8, 40)
    sets = ShingleSets.from_shingles(*shingle_hashes([WARRANTY, edited], 5))
    ok, jac, con = rule.apply(sets, np.array([0]), np.array([1]))
    assert jac[0] < 0.95 and con[0] >= 0.8
    assert not ok[0]


@pytest.mark.parametrize("threads", [True, False])
def test_a_scoring_pool_gives_the_scores_of_one_process(threads):
    """Batches scored at once (threads around the core, or forked processes) come back in the
    order of their pairs, each scored as one process scores it."""
    from dedup.config import ScanConfig
    from dedup.store.keystore import KeyStore
    from dedup.workers import publish, scoring_pool

    config = ScanConfig()
    dense_k, k = config.shingle_sizes()
    rng = np.random.default_rng(7)
    words = ["防控", "疫情", "network", "paragraph", "copy", "安全", "stock", "phrase"]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(4, 40)))) for _ in range(300)]
    a = np.sort(rng.integers(0, len(texts), 2_000))
    b = rng.integers(0, len(texts), 2_000)
    sizes = ShingleSets.from_shingles(*shingle_hashes(texts, k, config.seed, dense_k=dense_k)).sizes
    with KeyStore() as store:
        for text in texts:
            store.append(text)
        sets = verify.KeySets(store, np.arange(len(texts)), sizes, config, batch_shingles=500)
        alone = sets.score(a, b)
        publish(sets)
        try:
            with scoring_pool(2, 100, threads=threads) as workers:
                assert workers is not None
                sets.use_pool(workers)
                together = sets.score(a, b)
        finally:
            sets.use_pool(None)
            publish(None)
    assert np.array_equal(alone[0], together[0]) and np.array_equal(alone[1], together[1])


def test_one_worker_is_no_pool():
    from dedup.workers import scoring_pool

    with scoring_pool(1, 100, threads=True) as workers:
        assert workers is None
