"""Writer.insert: rows go several to one INSERT statement; what lands is what was given."""

from __future__ import annotations


import pytest
from hypothesis import HealthCheck, given, strategies as st

from helpers import derandomized
from dedup.store.writer import NEW_PARAGRAPH_COLUMNS, PARAGRAPH_VALUES, ROWS_PER_STATEMENT, Writer

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@derandomized(25, HealthCheck.function_scoped_fixture)
@given(st.integers(0, 3 * ROWS_PER_STATEMENT + 7), texts)
def test_paragraph_rows_land_as_given_whatever_their_number(tmp_path_factory, n, text):
    """Full statements and the last, shorter one: every row in order, a bytearray fingerprint
    stored as a blob, an empty one and key id 0 as NULL (``PARAGRAPH_VALUES``)."""
    db = tmp_path_factory.mktemp("w") / "t.db"
    writer = Writer(db)
    rows = [(i + 1, 1, i, i, i, 0, len(text), f"{text}{i}", i % 7, bytearray([i % 256] * 16) if i % 3 else bytearray(), i % 4)
            for i in range(n)]
    writer.insert("paragraphs", rows, NEW_PARAGRAPH_COLUMNS, PARAGRAPH_VALUES)
    got = writer.db.conn.execute(f"SELECT {', '.join(NEW_PARAGRAPH_COLUMNS)} FROM paragraphs ORDER BY id").fetchall()
    expected = [r[:9] + (bytes(r[9]) or None, r[10] or None) for r in rows]
    assert got == expected
    writer.abort()


def test_a_row_of_the_wrong_width_raises_instead_of_shifting_the_others(tmp_path):
    writer = Writer(tmp_path / "t.db")
    rows = [(1, 1, 0, 1, 1, 0, 1, "a", 1, bytearray(), 0), (2, 1, 1, 2, 2, 0, 1, "b", 1, bytearray())]
    with pytest.raises(ValueError, match="paragraphs"):
        writer.insert("paragraphs", rows, NEW_PARAGRAPH_COLUMNS, PARAGRAPH_VALUES)
    writer.abort()
