"""Vectorised near-duplicate searches on small per-file keys (blocks of rows, no Python loop over pairs).

The modalities' near-duplicate checks (``konstrukt/modalities/<name>/health.py``) use these on the
keys they measured: 64-bit image hashes, audio and signal fingerprint vectors.
"""
from __future__ import annotations

import numpy as np

BLOCK = 1024  # rows per block in the pairwise searches: memory O(BLOCK × N)


def hamming_pairs(hashes: np.ndarray, max_bits: int, block: int = BLOCK) -> np.ndarray:
    """Index pairs (i < j) of 64-bit hashes at most ``max_bits`` apart: XOR + popcount in blocks."""
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    found = []
    for start in range(0, len(h), block):
        d = np.bitwise_count(h[start:start + block, None] ^ h[None, :])  # (B, N)
        i, j = np.nonzero(d <= max_bits)
        i += start
        keep = j > i
        found.append(np.stack([i[keep], j[keep]], 1))
    return np.concatenate(found) if found else np.zeros((0, 2), int)


def cosine_candidates(x: np.ndarray, threshold: float, top_k: int = 8, block: int = BLOCK) -> np.ndarray:
    """Pairs (i < j) of L2-normalised rows with cosine ≥ ``threshold``, at most ``top_k`` per row."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    found = []
    for start in range(0, len(x), block):
        sim = x[start:start + block] @ x.T  # (B, N)
        rows = np.arange(sim.shape[0])
        sim[rows, rows + start] = -np.inf  # not a pair with itself
        k = min(top_k, x.shape[0] - 1)
        if k <= 0:
            break
        best = np.argpartition(-sim, k - 1, axis=1)[:, :k]  # (B, k)
        ok = np.take_along_axis(sim, best, 1) >= threshold
        i = np.repeat(rows + start, k).reshape(-1, k)[ok]
        j = best[ok]
        found.append(np.stack([np.minimum(i, j), np.maximum(i, j)], 1))
    if not found:
        return np.zeros((0, 2), int)
    return np.unique(np.concatenate(found), axis=0)


def connected_groups(n: int, pairs: np.ndarray) -> list[list[int]]:
    """Connected groups (size ≥ 2) of ``n`` items joined by ``pairs``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(pairs) == 0:
        return []
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    members: dict[int, list[int]] = {}
    for i, c in enumerate(comp.tolist()):
        members.setdefault(c, []).append(i)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])
