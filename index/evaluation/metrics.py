"""Ranking metrics against graded judgments: nDCG@10, MRR@10, recall@100.

The standard definitions (trec_eval's), so the figures compare with published ones.
"""

from __future__ import annotations

import math

import numpy as np


def ndcg_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains (as trec_eval and BEIR compute it)."""
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rels.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def mrr_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document within the top k."""
    for i, d in enumerate(ranked[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def recall_at(ranked: list[str], rels: dict[str, int], k: int = 100) -> float:
    """Share of the relevant documents found in the top k."""
    relevant = {d for d, g in rels.items() if g > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def score_runs(
    runs: dict[str, dict[str, list[str]]], qrels: dict[str, dict[str, int]]
) -> dict[str, dict[str, float]]:
    """Mean nDCG@10, MRR@10 and Recall@100 of each run over the judged queries."""
    out: dict[str, dict[str, float]] = {}
    for name, ranking in runs.items():
        rows = [
            (ndcg_at(ranking.get(q, []), r), mrr_at(ranking.get(q, []), r),
             recall_at(ranking.get(q, []), r))
            for q, r in qrels.items()
        ]
        means = np.mean(np.array(rows), axis=0) if rows else np.zeros(3)
        out[name] = {
            "ndcg@10": round(float(means[0]), 4),
            "mrr@10": round(float(means[1]), 4),
            "recall@100": round(float(means[2]), 4),
        }
    return out
