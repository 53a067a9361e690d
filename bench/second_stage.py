"""Two candidate second stages for English questions, chosen on SciFact train only.

    python bench/second_stage.py --data ../shared/data [--cache bench/results/quality]

Both re-rank the fused candidates of ``citebot eval``'s pipeline (BM25 and
MiniLM, ``index.evaluation.runner``) and are kept only if they help on SciFact train:

1. ``use a``: the multilingual leg (Universal Sentence Encoder) as a third
   voice, ``(1 - a) * z(fused) + a * z(USE cosine)`` over the candidates.
2. ``rm3 k/m/b``: keyword pseudo-relevance feedback (RM3-like): the m terms
   weighing most (tf/length times idf) in the top k fused documents, each
   scored with BM25, added to the query's BM25 score with weight b, then the
   candidates fused again.

Printed per collection (SciFact train, then the test sets): nDCG@10 of the
current pipeline and of every setting, and the setting SciFact train chooses.
The run on 2026-12-02 chose neither (the current pipeline scored best on train).
Uses the vectors ``bench/quality.py`` cached in ``--cache``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

from index.config import SearchSettings, load_settings  # noqa: E402
from index.evaluation import (  # noqa: E402
    DEPTH,
    PreparedCollection,
    load_collection,
    prepare,
    score_runs,
)
from index.retrieval.embedder import EmbeddingCache, embed_with_cache, load_encoder  # noqa: E402
from index.retrieval.fusion import hybrid_rank, normalise  # noqa: E402
from index.retrieval.keyword import KeywordIndex  # noqa: E402
from index.retrieval.multilingual import UniversalSentenceEncoder  # noqa: E402

SETS = (("scifact", "train"), ("scifact", "test"), ("cranfield", "test"), ("cisi", "test"))
USE_WEIGHTS = (0.05, 0.1, 0.15, 0.2, 0.3)
RM3 = [(k, m, b) for k in (3, 5, 10) for m in (5, 10, 20) for b in (0.2, 0.4, 0.7)]


def idf(keyword: KeywordIndex, term: int) -> float:
    df = keyword.document_frequency(term)
    return math.log(1 + (keyword.live - df + 0.5) / (df + 0.5))


def term_scores(keyword: KeywordIndex, term: int) -> np.ndarray:
    """One term's BM25 contribution to every document (as ``KeywordIndex.scores``)."""
    out = np.zeros(keyword.size, dtype=np.float64)
    docs, tf = keyword.postings(term)
    average = keyword.average_length
    norm = keyword.k1 * ((1 - keyword.b) + keyword.b * keyword.lengths[docs] / average)
    out[docs] = idf(keyword, term) * tf / (norm + tf)
    return out


def runs_for(prepared: PreparedCollection, use_docs: np.ndarray, use_queries: np.ndarray,
             search: SearchSettings) -> dict[str, dict[str, list[str]]]:
    """The current fused run and every second-stage setting's, per query."""
    collection, keyword = prepared.collection, prepared.keyword
    ids = collection.doc_ids
    qids = list(collection.queries)
    dense = prepared.dense_matrix(search.sentence_weight, search.feedback)
    head = min(search.candidates, len(ids))
    runs: dict[str, dict[str, list[str]]] = {"current": {}}
    for row, q in enumerate(qids):
        sparse = prepared.query_keyword[q].astype(np.float64)
        order = np.argsort(-dense[row], kind="stable")
        ranked, fused, _ = hybrid_rank(order[:head], sparse, dense[row].__getitem__, head,
                                       search.dense_weight, search.fusion)
        runs["current"][q] = [ids[i] for i in ranked[:DEPTH]]
        z_fused = normalise(fused, "zscore")
        z_use = normalise(use_docs[ranked] @ use_queries[row], "zscore")
        for a in USE_WEIGHTS:
            mixed = ranked[np.argsort(-((1 - a) * z_fused + a * z_use), kind="stable")]
            runs.setdefault(f"use {a}", {})[q] = [ids[i] for i in mixed[:DEPTH]]
        own = {keyword.term(w) for w in keyword.query_terms(collection.queries[q])}
        contributions: dict[int, np.ndarray] = {}
        for k in (3, 5, 10):
            weights: dict[int, float] = {}
            for doc in ranked[:k].tolist():
                for term, tf in keyword.text_terms(doc):
                    if term not in own:
                        weights[term] = weights.get(term, 0.0) + tf / keyword.lengths[doc] / k
            best = sorted(((w * idf(keyword, t), t) for t, w in weights.items()), reverse=True)
            for m in (5, 10, 20):
                chosen = best[:m]
                total = sum(w for w, _ in chosen) or 1.0
                expansion = np.zeros(keyword.size)
                for w, term in chosen:
                    if term not in contributions:
                        contributions[term] = term_scores(keyword, term)
                    expansion += (w / total) * contributions[term]
                for b in (0.2, 0.4, 0.7):
                    expanded = sparse + b * max(1, len(own)) * expansion
                    again, _, _ = hybrid_rank(order[:head], expanded, dense[row].__getitem__,
                                              head, search.dense_weight, search.fusion)
                    runs.setdefault(f"rm3 {k}/{m}/{b}", {})[q] = [ids[i] for i in again[:DEPTH]]
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "quality")
    args = parser.parse_args()
    settings = load_settings(environ={})
    embedder = load_encoder(settings.model)
    use = UniversalSentenceEncoder()
    args.cache.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(args.cache / "embeddings.sqlite")
    chosen = "current"
    for name, split in SETS:
        collection = load_collection(args.data / name, split)
        prepared = prepare(collection, embedder, cache)
        use_docs = embed_with_cache(use, cache, collection.doc_texts())  # type: ignore[arg-type]
        use_queries = use.encode([collection.queries[q] for q in collection.queries])
        scores = score_runs(runs_for(prepared, use_docs, use_queries, settings.search),
                            collection.qrels)
        ndcg = {run: got["ndcg@10"] for run, got in scores.items()}
        if (name, split) == ("scifact", "train"):
            chosen = max(ndcg, key=lambda run: (ndcg[run], run == "current"))
        best = max(ndcg, key=ndcg.__getitem__)
        print(f"{name} {split}: current {ndcg['current']:.4f}, chosen on train ({chosen}) "
              f"{ndcg[chosen]:.4f}, best here ({best}) {ndcg[best]:.4f}", flush=True)
        print("   " + "  ".join(f"{run}={value:.4f}" for run, value in ndcg.items()))
    cache.close()


if __name__ == "__main__":
    main()
