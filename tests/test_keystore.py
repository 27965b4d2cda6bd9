"""KeyStore: keys on disk come back exactly, in any order, and leave no file behind."""

from hypothesis import given
from hypothesis import strategies as st

from dedup.keystore import KeyStore


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
