"""Fusing dense and keyword scores into one ranking.

Both the searcher and the evaluation call these functions, so the figures
``citebot eval`` reports are those of the ranking users get. Scores are fused
over a candidate set (the union of both retrievers' top candidates) on which
both scores are known exactly, so no candidate is missing a score.
"""

from __future__ import annotations

import numpy as np

METHODS = ("zscore", "minmax", "rrf")


def normalise(scores: np.ndarray, method: str) -> np.ndarray:
    """Put one retriever's candidate scores on a common scale."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    if method == "minmax":
        low, high = scores.min(), scores.max()
        return (scores - low) / (high - low) if high > low else np.zeros_like(scores)
    if method == "zscore":
        spread = scores.std()
        return (scores - scores.mean()) / spread if spread > 0 else np.zeros_like(scores)
    raise ValueError(f"unknown normalisation {method!r}")


def rrf_scores(scores: np.ndarray, k: int = 60) -> np.ndarray:
    """Reciprocal-rank scores 1/(k + rank) for candidates given their raw scores."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    ranks = np.empty(len(order), dtype=np.float64)
    ranks[order] = np.arange(1, len(order) + 1)
    return 1.0 / (k + ranks)


def fuse(dense: np.ndarray, sparse: np.ndarray, dense_weight: float, method: str) -> np.ndarray:
    """One fused score per candidate.

    Args:
        dense: cosine similarities of the candidates.
        sparse: BM25 scores of the same candidates.
        dense_weight: the dense share in [0, 1]; the keyword share is the rest.
        method: ``zscore`` or ``minmax`` (a convex combination of normalised
            scores) or ``rrf`` (reciprocal-rank fusion, k=60, weighted).
    """
    if method == "rrf":
        d, s = rrf_scores(dense), rrf_scores(sparse)
    else:
        d, s = normalise(dense, method), normalise(sparse, method)
    return dense_weight * d + (1.0 - dense_weight) * s
