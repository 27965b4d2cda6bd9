"""The minimal rensa script a new user writes: the ``rensa-min`` row of ``python -m bench speed``.

    python -m bench.rensa_min CORPUS

Nothing of dedup: every file under the folder read as UTF-8 text, one paragraph a non-empty
line, lowercased, its character 5-grams into ``rensa.RMinHash(num_perm=128, seed=42)``, every
hash into ``rensa.RMinHashLSH(threshold=0.8, num_perm=128, num_bands=16)`` (the values of
rensa's own example, not the benchmark's threshold), each queried, and what comes back joined
by union-find. No normalization, no verification. A line shorter than 5 characters is its own
one shingle (an empty update would give every short line the same hash).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import rensa


def rensa_min(folder: str | Path) -> dict:
    lines = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            with open(path, encoding="utf-8", errors="replace") as f:
                lines += [line.strip() for line in f if line.strip()]

    lsh = rensa.RMinHashLSH(threshold=0.8, num_perm=128, num_bands=16)
    hashes = []
    for i, line in enumerate(lines):
        text = line.lower()
        m = rensa.RMinHash(num_perm=128, seed=42)
        m.update([text[j : j + 5] for j in range(len(text) - 4)] or [text])
        lsh.insert(i, m)
        hashes.append(m)

    parent = list(range(len(lines)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    linked = set()
    for i, m in enumerate(hashes):
        for j in lsh.query(m):
            if j != i:
                linked.update((i, j))
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {"paragraphs": len(lines), "clusters": len({find(i) for i in linked})}


if __name__ == "__main__":
    print(json.dumps(rensa_min(sys.argv[1])))
