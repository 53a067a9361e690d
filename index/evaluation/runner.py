"""Running the searcher's ranking over a test collection and scoring it.

Three rankings are measured in one run: BM25 alone, dense alone, and the fused
ranking the searcher uses. "Dense alone" embeds each document whole (title and
text; the model reads the first 256 word pieces), exactly as the published
all-MiniLM-L6-v2 figures do, so it checks the embedding path. The fused ranking
scores documents as the searcher scores passages: whole-text cosine mixed with
the best sentence's cosine (the title counting as a sentence), fused with BM25.
Everything goes through the embedding cache, so a second run costs only the
queries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from index.articles.sentences import split_sentences
from index.config import SearchSettings
from index.evaluation.collections import Collection
from index.evaluation.metrics import score_runs
from index.retrieval.ann import FlatIndex
from index.retrieval.dense import mix, run_maxima
from index.retrieval.embedder import EmbeddingCache, Encoder, Progress, embed_with_cache
from index.retrieval.fusion import FEEDBACK_DEPTH, feedback_query, hybrid_rank
from index.retrieval.keyword import KeywordIndex

log = logging.getLogger(__name__)

DEPTH = 100
"""How deep each run is ranked (recall@100)."""


@dataclass
class PreparedCollection:
    """A collection with its document vectors and BM25 index, ready to rank queries."""

    collection: Collection
    vectors: np.ndarray
    index: FlatIndex
    sentence_vectors: np.ndarray
    sentence_owner: np.ndarray
    keyword: KeywordIndex
    query_vectors: dict[str, np.ndarray]
    query_keyword: dict[str, np.ndarray]

    def mixed(self, query: np.ndarray, sentence_weight: float) -> np.ndarray:
        """Each document's dense score for one query, as the searcher scores a passage."""
        return self._mix(query[None, :], sentence_weight)[0]

    def dense_matrix(self, sentence_weight: float, feedback: float) -> np.ndarray:
        """Dense scores (queries x documents) as ranked: mixed, after feedback if any."""
        queries = np.stack([self.query_vectors[q] for q in self.collection.queries])
        scores = self._mix(queries, sentence_weight)
        if feedback > 0:
            top = np.argsort(-scores, axis=1)[:, :FEEDBACK_DEPTH]
            moved = np.stack([
                feedback_query(q, self.vectors[t], feedback)
                for q, t in zip(queries, top, strict=True)
            ])
            scores = self._mix(moved, sentence_weight)
        return scores

    def _mix(self, queries: np.ndarray, sentence_weight: float) -> np.ndarray:
        """Whole-document cosine mixed with the best sentence's (documents without one keep
        their own), for a batch of query vectors."""
        whole = queries @ self.vectors.T
        best = whole.copy()
        if len(self.sentence_owner):
            # Sentences are stored document by document, so each document's run is contiguous.
            owners, starts = np.unique(self.sentence_owner, return_index=True)
            sims = queries @ self.sentence_vectors.T
            best[:, owners] = run_maxima(sims, starts)
        return mix(whole, best, sentence_weight)


def prepare(
    collection: Collection,
    embedder: Encoder,
    cache: EmbeddingCache | None,
    progress: Progress | None = None,
) -> PreparedCollection:
    """Embed the documents and queries and build both indexes (the slow part)."""
    texts = collection.doc_texts()
    sentences: list[str] = []
    owner: list[int] = []
    for i, (title, text) in enumerate(zip(collection.titles, collection.texts, strict=True)):
        parts = ([title] if title.strip() else []) + split_sentences(text)
        sentences.extend(parts)
        owner.extend([i] * len(parts))
    matrix = embed_with_cache(embedder, cache, texts + sentences, progress)
    vectors = matrix[: len(texts)]
    index = FlatIndex.from_vectors(vectors)
    keyword = KeywordIndex(texts)
    qids = list(collection.queries)
    qvecs = embedder.encode([collection.queries[q] for q in qids]) if qids else np.zeros((0, 1))
    return PreparedCollection(
        collection,
        vectors,
        index,
        matrix[len(texts) :],
        np.array(owner, dtype=np.int64),
        keyword,
        {q: qvecs[i] for i, q in enumerate(qids)},
        {q: keyword.scores(collection.queries[q]) for q in qids},
    )


def rank_queries(
    prepared: PreparedCollection, settings: SearchSettings
) -> dict[str, dict[str, list[str]]]:
    """The BM25, dense and fused top-100 of every judged query."""
    ids = prepared.collection.doc_ids
    runs: dict[str, dict[str, list[str]]] = {"bm25": {}, "dense": {}, "fused": {}}
    qids = list(prepared.collection.queries)
    if not qids:
        return runs
    matrix = np.stack([prepared.query_vectors[q] for q in qids]).astype(np.float32)
    _, whole_hits = prepared.index.search(matrix, min(DEPTH, len(ids)))
    dense = prepared.dense_matrix(settings.sentence_weight, settings.feedback)
    head = min(settings.candidates, len(ids))
    for row, q in enumerate(qids):
        sparse = prepared.query_keyword[q]
        top_sparse = np.argsort(-sparse, kind="stable")[:DEPTH]
        runs["bm25"][q] = [ids[i] for i in top_sparse if sparse[i] > 0]
        runs["dense"][q] = [ids[i] for i in whole_hits[row] if i >= 0]
        order = np.argsort(-dense[row], kind="stable")
        ranked, _, _ = hybrid_rank(
            order[:head], sparse, dense[row].__getitem__, head,
            settings.dense_weight, settings.fusion,
        )
        # The searcher fuses only its candidate pool; past it, the fused run
        # continues in dense order so that Recall@100 is measured at depth 100.
        seen = set(ranked.tolist())
        tail = [i for i in order[: DEPTH + head] if i not in seen]
        runs["fused"][q] = [ids[i] for i in [*ranked.tolist(), *tail][:DEPTH]]
    return runs


def evaluate(
    collection: Collection,
    embedder: Encoder,
    cache: EmbeddingCache | None,
    settings: SearchSettings,
    progress: Progress | None = None,
) -> dict[str, object]:
    """Measure BM25, dense and fused rankings; the ``citebot eval --json`` object."""
    prepared = prepare(collection, embedder, cache, progress)
    runs = rank_queries(prepared, settings)
    return {"collection": collection.name, "runs": score_runs(runs, collection.qrels)}
