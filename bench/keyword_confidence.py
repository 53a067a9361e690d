"""Tried and not adopted: scaling the keyword leg by how much of the question it matched.

    python bench/keyword_confidence.py --data ../shared/data [--cache bench/results/quality]

The z-score fusion gives the keyword leg the same spread whatever it found: when
the best BM25 match covers only common words of the question (a paraphrase, a
question in other words than the article's), its noise is scaled up as much as
a real match. This multiplies the keyword leg's normalised scores by ``c ** gamma``,
where ``c`` is the best candidate's BM25 score over the most a passage could score
for that question (the sum of its terms' IDF, a term no passage holds counting as
the rarest): 1 when some passage holds every term, small for a paraphrase.

Chosen on SciFact train (gamma and the dense weight), then shown on the held-out
sets: the collections' test judgments and the bundled corpus's question sets
(hit@1 / hit@3). Printed, so the decision can be checked again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from index.config import SearchSettings, load_settings  # noqa: E402
from index.evaluation import DEPTH, load_collection, prepare, score_runs  # noqa: E402
from index.retrieval import fusion  # noqa: E402
from index.retrieval import search as search_module  # noqa: E402
from index.retrieval.embedder import EmbeddingCache, load_encoder  # noqa: E402
from index.retrieval.engine import Engine  # noqa: E402
from index.retrieval.keyword import KeywordIndex  # noqa: E402

GRID = [(0.0, 0.6), (0.5, 0.4), (0.5, 0.5), (0.5, 0.6), (0.75, 0.45), (1.0, 0.3), (1.0, 0.4),
        (1.0, 0.5), (1.0, 0.6), (1.5, 0.3), (2.0, 0.5)]
"""(gamma, dense weight); (0, 0.6) is today's ranking."""


def ceiling(keyword: KeywordIndex, query: str) -> float:
    """The most a passage could score for ``query``: the sum of its terms' IDF."""
    total = 0.0
    for word in keyword.query_terms(query):
        term = keyword.term(word)
        df = keyword.document_frequency(term) if term is not None else 0
        total += math.log(1 + (keyword.live - df + 0.5) / (df + 0.5))
    return total


class Confidence:
    """Replaces ``fusion.fuse`` while active: the keyword share scaled by ``c ** gamma``."""

    def __init__(self) -> None:
        self.gamma = 0.0
        self.c = 1.0
        self.original = fusion.fuse
        fusion.fuse = self.fuse

    def fuse(self, dense: np.ndarray, sparse: np.ndarray, weight: float, method: str
             ) -> np.ndarray:
        if self.gamma == 0:
            return self.original(dense, sparse, weight, method)
        return (weight * fusion.normalise(dense, method)
                + (1 - weight) * self.c ** self.gamma * fusion.normalise(sparse, method))

    def set(self, best: float, most: float) -> None:
        self.c = min(1.0, best / most) if most > 0 else 0.0


def collection_ndcg(prepared, search: SearchSettings, confidence: Confidence,  # type: ignore[no-untyped-def]
                    most: dict[str, float]) -> float:
    """nDCG@10 of the fused ranking, as ``index.evaluation.rank_queries`` ranks."""
    ids = prepared.collection.doc_ids
    dense = prepared.dense_matrix(search.sentence_weight, search.feedback)
    head = min(search.candidates, len(ids))
    fused = {}
    for row, q in enumerate(prepared.collection.queries):
        sparse = prepared.query_keyword[q]
        confidence.set(float(sparse.max()) if sparse.size else 0.0, most[q])
        order = np.argsort(-dense[row], kind="stable")
        ranked, _, _ = fusion.hybrid_rank(order[:head], sparse, dense[row].__getitem__, head,
                                          search.dense_weight, search.fusion)
        seen = set(ranked.tolist())
        tail = [i for i in order[: DEPTH + head] if i not in seen]
        fused[q] = [ids[i] for i in [*ranked.tolist(), *tail][:DEPTH]]
    return score_runs({"fused": fused}, prepared.collection.qrels)["fused"]["ndcg@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "quality")
    args = parser.parse_args()
    settings = load_settings(environ={})
    confidence = Confidence()
    embedder = load_encoder(settings.model)
    args.cache.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(args.cache / "embeddings.sqlite")
    splits = [("scifact", "train"), ("scifact", "test"), ("cranfield", "test"), ("cisi", "test")]
    prepared = {}
    for name, split in splits:
        p = prepare(load_collection(args.data / name, split), embedder, cache)
        prepared[f"{name} {split}"] = (p, {q: ceiling(p.keyword, text)
                                           for q, text in p.collection.queries.items()})
    print("nDCG@10 of the fused ranking (SciFact train chooses)")
    print(f"{'gamma':>6} {'w':>5} " + " ".join(f"{k:>15}" for k in prepared))
    for gamma, weight in GRID:
        confidence.gamma = gamma
        search = dataclasses.replace(SearchSettings(), dense_weight=weight)
        row = [collection_ndcg(p, search, confidence, most) for p, most in prepared.values()]
        print(f"{gamma:>6} {weight:>5} " + " ".join(f"{v:>15.4f}" for v in row), flush=True)

    # The bundled corpus, through the searcher: every question's c from its own terms.
    base = load_settings(environ={})
    base = dataclasses.replace(base, index=dataclasses.replace(
        base.index, data_dir=tempfile.mkdtemp(prefix="citebot-confidence-")))
    engine = Engine.open(base, embedder=embedder)
    ranked = search_module.Searcher._rank

    def rank(self, text, query, k, scopes):  # type: ignore[no-untyped-def]
        live = self.data.live
        scores = live.keyword.scores(text)
        confidence.set(float(scores.max()) if scores.size else 0.0, ceiling(live.keyword, text))
        return ranked(self, text, query, k, scopes)

    search_module.Searcher._rank = rank  # type: ignore[method-assign]
    sets = {name: [json.loads(line) for line in (HERE / "data" / name).read_text().splitlines()
                   if line.strip() and json.loads(line).get("expect")]
            for name in ("seed_questions.jsonl", "discussion_claims.jsonl")}
    print("\nthe bundled corpus: hit@1 / hit@3")
    searcher = engine.searcher
    for gamma, weight in GRID:
        confidence.gamma = gamma
        engine.searcher = search_module.Searcher(
            searcher.data, engine.embedder, dataclasses.replace(base.search, dense_weight=weight),
            engine.multilingual, engine.languages)
        cells = []
        for rows in sets.values():
            h1 = h3 = 0
            for r in rows:
                found = [i for i, c in enumerate(engine.ask(r["question"]).results)
                         if any(e in c.passage.text for e in r["expect"])]
                h1 += bool(found) and found[0] == 0
                h3 += bool(found) and found[0] < 3
            cells.append(f"{h1}/{len(rows)} {h3}/{len(rows)}")
        print(f"{gamma:>6} {weight:>5}  " + "   ".join(
            f"{n}: {c}" for n, c in zip(sets, cells, strict=True)), flush=True)


if __name__ == "__main__":
    main()
