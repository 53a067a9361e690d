"""Measuring retrieval quality on test collections with relevance judgments.

``load_collection`` reads a collection folder, ``evaluate`` runs the search's own
ranking over its queries, and the metrics (nDCG@10, MRR@10, recall@100) score it.
"""

from index._exports import lazy_exports

_WHERE = {
    "Collection": "runner",
    "PreparedCollection": "runner",
    "evaluate": "runner",
    "load_collection": "runner",
    "mrr_at": "runner",
    "ndcg_at": "runner",
    "prepare": "runner",
    "rank_queries": "runner",
    "recall_at": "runner",
    "score_runs": "runner",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
