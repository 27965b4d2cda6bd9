"""stored_key_texts: a key's text, made again from its paragraphs, is the text the scan signed."""

import json
import sqlite3

import numpy as np
import pytest

from dedup import api
from dedup.compiled import make_normalizer
from dedup.config import ScanConfig
from dedup.engines.local import sign_batch
from dedup.store.lookup import KEY_TEXTS_BATCH, stored_config, stored_key_texts
from tests.helpers import SEEDS, debian_copyrights, write_corpus


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """A scan of HTML pages (the seeds), plain text nobody here wrote, and JSONL records."""
    root = tmp_path_factory.mktemp("mixed")
    files: dict[str, str | bytes] = {f"seeds/{p.name}": p.read_bytes() for p in sorted(SEEDS.iterdir()) if p.is_file()}
    files.update({f"debian/{name}": data for name, data in debian_copyrights(root / "unused").items()})
    lines = [json.dumps({"id": f"r{i}", "text": p.read_text("utf-8", errors="replace")}, ensure_ascii=False) for i, p in enumerate(sorted(SEEDS.iterdir())) if p.is_file()]
    files["records.jsonl"] = "\n".join(lines) + "\n"
    corpus = write_corpus(root / "corpus", files)
    db = root / "dedup.db"
    api.scan(corpus, db, workers=1)
    return db


def test_remade_texts_sign_to_the_stored_signatures(scanned):
    conn = sqlite3.connect(scanned)
    config = stored_config(conn)
    keys = conn.execute("SELECT id, key_len, set_size, bands FROM keys ORDER BY id").fetchall()
    assert len(keys) > KEY_TEXTS_BATCH  # more than one query's worth
    texts = stored_key_texts(conn, [k for k, *_ in keys], make_normalizer(config.steps))
    assert sorted(texts) == [k for k, *_ in keys]
    assert [len(texts[k]) for k, *_ in keys] == [n for _, n, _, _ in keys]
    signed = [(k, size, bands) for k, _, size, bands in keys if size is not None]
    b, r = config.lsh_bands()
    again = sign_batch([texts[k] for k, _, _ in signed], config, b, r)
    assert again.set_sizes.tolist() == [size for _, size, _ in signed]
    assert np.array_equal(again.bands, np.frombuffer(b"".join(bands for _, _, bands in signed), dtype="<u4").reshape(-1, b))


def test_keys_not_in_the_database_are_left_out(scanned):
    conn = sqlite3.connect(scanned)
    top = conn.execute("SELECT max(id) FROM keys").fetchone()[0]
    texts = stored_key_texts(conn, [1, top + 1, top + 5], make_normalizer(ScanConfig().steps))
    assert list(texts) == [1]
