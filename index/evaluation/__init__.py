"""Measuring retrieval quality on test collections with relevance judgments.

``load_collection`` reads a collection folder, ``evaluate`` runs the search's own
ranking over its queries, and the metrics (nDCG@10, MRR@10, recall@100) score it.
"""

from index._exports import lazy_exports

_WHERE = {
    "Collection": "collections",
    "load_collection": "collections",
    "mrr_at": "metrics",
    "ndcg_at": "metrics",
    "recall_at": "metrics",
    "score_runs": "metrics",
    "DEPTH": "runner",
    "PreparedCollection": "runner",
    "evaluate": "runner",
    "prepare": "runner",
    "rank_queries": "runner",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
