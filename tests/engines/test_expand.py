"""expand_clusters builds every cluster's rows from arrays at once; they must equal what the
reference, ``cluster_rows`` over one cluster's ``ClusterMember`` objects (the Spark engine's
way), gives for the same clusters, under every canonical policy."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.config import ScanConfig
from dedup.engines.local import Assignment, ClusterMember, Paragraphs, cluster_rows, expand_clusters, key_ranks
from dedup.match.canonical import POLICIES, MemberFacts


@st.composite
def corpora(draw):
    """Paragraphs of a few documents whose keys fall into random clusters, with dates, ties of
    length, fragments and similarities near the threshold."""
    n_docs = draw(st.integers(1, 5))
    n_paras = draw(st.integers(0, 40))
    n_keys = draw(st.integers(1, 12))
    doc = np.sort(np.array(draw(st.lists(st.integers(1, n_docs), min_size=n_paras, max_size=n_paras)), dtype=np.int64))
    key = np.array(draw(st.lists(st.integers(-1, n_keys - 1), min_size=n_paras, max_size=n_paras)), dtype=np.int64)
    key_len = np.array(draw(st.lists(st.integers(1, 6), min_size=n_keys, max_size=n_keys)), dtype=np.int64)
    dates = draw(st.lists(st.sampled_from([math.nan, 0.0, 86400.0, 3600.0]), min_size=n_docs, max_size=n_docs))
    paras = Paragraphs(key, doc, np.arange(n_paras) % 7 + 3, np.arange(n_paras) % 5 + 1, np.arange(n_paras) * 3 + 11,
                       [f"d{i}.txt" for i in range(n_docs)], np.array(dates))
    # every key in a cluster whose canonical key (one with a paragraph) is one of a few leaders
    present = sorted(set(key[key >= 0].tolist()))
    leaders = draw(st.lists(st.sampled_from(present), max_size=3, unique=True)) if present else []
    canonical = np.array([draw(st.sampled_from(leaders + [-1])) for _ in range(n_keys)], dtype=np.int64)
    canonical[leaders] = leaders
    sims = st.sampled_from([1.0, 0.6, 0.6 - 1e-13, 0.5999995, 0.7123456789, 0.3])
    similarity = np.array([draw(sims) for _ in range(n_keys)])
    containment = np.array([draw(sims) for _ in range(n_keys)])
    fragment = np.array(draw(st.lists(st.booleans(), min_size=n_keys, max_size=n_keys)))
    fragment[leaders] = False
    return paras, key_len, Assignment(canonical, similarity, containment, fragment)


def reference(config, paras, para_rank, key_len, assignment, best_para):
    """The rows one cluster at a time through ``cluster_rows``."""
    positions = [p for p in range(len(paras.key)) if paras.key[p] >= 0 and assignment.canonical[paras.key[p]] >= 0]
    by_canonical: dict[int, list[int]] = {}
    for p in positions:
        by_canonical.setdefault(int(best_para[assignment.canonical[paras.key[p]]]), []).append(p)
    clusters, members = [], []
    for cid, canon in enumerate(sorted(by_canonical), start=1):
        group = [
            ClusterMember(int(paras.ids[p]), int(paras.key[p]), float(assignment.similarity[paras.key[p]]),
                          float(assignment.containment[paras.key[p]]),
                          MemberFacts(int(key_len[paras.key[p]]), paras.paths[paras.doc[p] - 1], int(paras.line[p]), float(paras.doc_date[paras.doc[p] - 1])),
                          int(paras.length[p]), bool(assignment.fragment[paras.key[p]]), int(para_rank[p]))
            for p in by_canonical[canon]
        ]
        n_docs = len({int(paras.doc[p]) for p in by_canonical[canon]})
        row, rows, _, _ = cluster_rows(config, cid, group, int(paras.ids[canon]), n_docs, False)
        clusters.append(row)
        members.extend(rows)
    return clusters, members


@settings(max_examples=300, deadline=None)
@given(corpora(), st.sampled_from(POLICIES))
def test_rows_equal_the_reference(corpus, policy):
    paras, key_len, assignment = corpus
    config = ScanConfig(canonical=policy)
    para_rank, _, best_para = key_ranks(policy, paras, key_len)
    built = expand_clusters(config, paras, np.arange(len(paras.key)), para_rank, key_len, assignment, best_para)
    clusters, members = reference(config, paras, para_rank, key_len, assignment, best_para)
    assert built.clusters == clusters
    assert list(built.members) == members
    assert list(built.members) == members  # read again, the same rows
    assert built.member_ids.tolist() == [m[0] for m in members] and built.member_clusters.tolist() == [m[1] for m in members]
    assert built.duplicate_paragraphs == len(members) - len(clusters)
