"""distinct and lsh.stable_order are the sort-based stand-ins of np.unique and the stable
argsort: they must give exactly what those give, for every dtype the stages pass them."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.match.distinct import distinct
from dedup.match.lsh import group_pairs, stable_order

DTYPES = (np.uint8, np.int32, np.uint32, np.int64, np.uint64)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=60), st.sampled_from(DTYPES))
def test_distinct_is_np_unique(values, dtype):
    x = np.array(values, dtype=dtype)
    got, want = distinct(x), np.unique(x)
    assert got.dtype == want.dtype and got.tolist() == want.tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-5, 20), max_size=60), st.sampled_from(DTYPES + (np.int8,)))
def test_stable_order_is_the_stable_argsort(values, dtype):
    x = np.array([v if np.dtype(dtype).kind == "i" else abs(v) for v in values], dtype=dtype)
    assert stable_order(x).tolist() == np.argsort(x, kind="stable").tolist()


def test_bucket_pairs_keep_the_input_order_of_equal_hashes():
    # rows given out of order: the pairs follow the input order within a bucket, as before
    values = np.array([9, 9, 9, 4, 9], dtype=np.uint32)
    rows = np.array([30, 10, 20, 5, 0])
    assert group_pairs(values, rows, 1).tolist() == [[10, 30], [10, 20], [0, 20]]
