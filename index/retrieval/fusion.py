"""Fusing dense and keyword scores into one ranking.

Both the searcher and the evaluation call these functions, so the figures
``citebot eval`` reports are those of the ranking users get. Scores are fused
over a candidate set (the union of both retrievers' top candidates) on which
both scores are known exactly, so no candidate is missing a score.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

METHODS = ("tmm", "zscore", "minmax", "rrf")


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


def theoretical_minmax(scores: np.ndarray, floor: float) -> np.ndarray:
    """Min-max scaling with the score's theoretical minimum (-1 for cosine, 0 for BM25).

    Unlike plain min-max or z-scores, a candidate set where most scores sit at
    the floor (BM25 on a small corpus) does not inflate the few that do not
    (Bruch et al., "An Analysis of Fusion Functions for Hybrid Retrieval", 2023).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    top = scores.max()
    return (scores - floor) / (top - floor) if top > floor else np.zeros_like(scores)


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
        method: ``tmm``, ``zscore`` or ``minmax`` (a convex combination of
            normalised scores) or ``rrf`` (reciprocal-rank fusion, k=60, weighted).
    """
    if method == "rrf":
        d, s = rrf_scores(dense), rrf_scores(sparse)
    elif method == "tmm":
        d, s = theoretical_minmax(dense, -1.0), theoretical_minmax(sparse, 0.0)
    else:
        d, s = normalise(dense, method), normalise(sparse, method)
    return dense_weight * d + (1.0 - dense_weight) * s


def feedback_query(query: np.ndarray, top_vectors: np.ndarray, share: float) -> np.ndarray:
    """Dense pseudo-relevance feedback: move the query towards its best hits (Rocchio).

    Returns the unit vector ``(1 - share) * query + share * mean(top_vectors)``;
    the query itself when ``share`` is 0 or there are no hits.
    """
    if share <= 0 or len(top_vectors) == 0:
        return query
    moved = (1.0 - share) * query + share * np.mean(top_vectors, axis=0)
    norm = float(np.linalg.norm(moved))
    return (moved / norm).astype(np.float32) if norm > 0 else query


FEEDBACK_DEPTH = 3
"""How many top hits the feedback query moves towards."""


def hybrid_rank(
    dense_top: np.ndarray,
    sparse_all: np.ndarray,
    dense_score: Callable[[np.ndarray], np.ndarray],
    candidates: int,
    dense_weight: float,
    method: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank the union of the dense and keyword top candidates by fused score.

    Args:
        dense_top: positions of the dense retriever's best candidates.
        sparse_all: the keyword score of every position (``-inf`` where excluded).
        dense_score: the exact cosine similarity of the given positions.
        candidates: how many keyword candidates to take.
        dense_weight, method: as for ``fuse``.

    Returns:
        Positions best first, their fused scores and their cosine similarities.
    """
    # Only positions the keyword leg scored are candidates from it: choosing among
    # those (a few thousand) instead of partitioning every position (a million) was
    # 9 ms of a question at a million passages.
    scored = np.flatnonzero(sparse_all > 0)
    take = min(candidates, len(scored))
    sparse_top = (scored[np.argpartition(-sparse_all[scored], take - 1)[:take]] if take
                  else scored[:0])
    union = np.union1d(dense_top.astype(np.int64), sparse_top.astype(np.int64))
    if union.size == 0:
        empty = np.zeros(0)
        return union, empty, empty
    dense = np.asarray(dense_score(union), dtype=np.float64)
    fused = fuse(dense, sparse_all[union], dense_weight, method)
    order = np.argsort(-fused, kind="stable")
    return union[order], fused[order], dense[order]
