"""KeyStore: keys on disk come back exactly, in any order, and leave no file behind."""

from hypothesis import given
from hypothesis import strategies as st

from dedup.store.keystore import KeyStore


@given(st.lists(st.text(), max_size=30), st.data())
def test_keys_come_back_exactly(keys, data):
    with KeyStore() as store:
        for i, key in enumerate(keys):
            assert store.append(key) == i
        assert len(store) == len(keys)
        if keys:
            order = data.draw(st.lists(st.integers(0, len(keys) - 1), max_size=20))
            assert store.get(order) == [keys[i] for i in order]


def test_reads_see_keys_appended_after_an_earlier_read(tmp_path):
    with KeyStore(tmp_path) as store:
        store.append("疫情")
        assert store.get([0]) == ["疫情"]
        store.append("防控")
        assert store.get([1, 0]) == ["防控", "疫情"]


def test_the_file_is_removed_on_close(tmp_path):
    store = KeyStore(tmp_path)
    store.append("x")
    assert store.path.exists()
    store.close()
    assert not store.path.exists()
    assert list(tmp_path.iterdir()) == []


def test_buffered_appends_read_back_across_flushes():
    """Keys are written a megabyte at a time; reading must see every one, flushed or not."""
    keys = [("疫情防控" * (i % 97 + 1)) + str(i) for i in range(20_000)]
    with KeyStore() as store:
        for i, key in enumerate(keys):
            assert (store.append(key) if i % 2 else store.append_utf8(key.encode("utf-8"))) == i
            if i == 7:
                assert store.get([3, 7]) == [keys[3], keys[7]]  # read before the first flush
        assert store.get(range(len(keys))) == keys
