"""Calibrating the abstain rule (``search.min_score``) on labelled questions.

The score the rule reads is a question's best dense score, computed exactly as
the searcher computes it (passage cosine mixed with its best sentence's cosine).

1. The threshold: bench/data/calibration_questions.jsonl holds questions about
   the bundled corpus and unrelated ones (several in other languages). This set
   is separate from the seed evaluation set (seed_questions.jsonl), so the seed
   figures are not fitted to. The threshold printed maximises balanced
   accuracy (mean of the answered rate on answerable questions and the
   abstained rate on unrelated ones); ties go to the higher threshold.
2. A cross-check, with ``--data``: the same statistic on Cranfield, CISI and
   SciFact, where each collection's own judged queries (top hit relevant) are
   answerable and the other collections' queries are unrelated.

    python bench/calibrate_abstain.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from index.config import Settings, load_settings  # noqa: E402
from index.embedder import Embedder, EmbeddingCache  # noqa: E402
from index.engine import Engine  # noqa: E402
from index.evaluation import load_collection, prepare  # noqa: E402

NAMES = ("cranfield", "cisi", "scifact")


GRID = np.round(np.arange(0.10, 0.61, 0.01), 2)


def choose(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float, float]:
    """The threshold with the best balanced accuracy, and its two rates."""
    rows = [(float(t), float((pos >= t).mean()), float((neg < t).mean())) for t in GRID]
    return max(rows, key=lambda r: (r[1] + r[2], r[0]))


def corpus_scores(settings: Settings, embedder: Embedder) -> tuple[np.ndarray, np.ndarray]:
    """Best dense score of each calibration question over the bundled corpus."""
    rows = [json.loads(line) for line in
            (HERE / "data" / "calibration_questions.jsonl").read_text("utf-8").splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        settings = dataclasses.replace(
            settings, index=dataclasses.replace(settings.index, data_dir=tmp))
        engine = Engine.open(settings, embedder=embedder)
        searcher = engine.searcher
        positions = np.arange(len(searcher.passages))
        vectors = embedder.encode([r["question"] for r in rows])
        best = [float(searcher._dense_scores(v, positions)[0].max()) for v in vectors]
        engine.close()
    labels = np.array([bool(r["answerable"]) for r in rows])
    scores = np.array(best)
    return scores[labels], scores[~labels]


def collection_scores(data: Path, settings: Settings, embedder: Embedder
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Best dense scores of in-collection (answerable) and cross-collection queries."""
    beta = settings.search.sentence_weight
    cache = EmbeddingCache(Path(os.environ.get("CITEBOT_DATA_DIR") or settings.data_dir)
                           / "embeddings.sqlite")
    collections = {n: load_collection(data / n) for n in NAMES}
    vectors = {n: embedder.encode(list(c.queries.values())) for n, c in collections.items()}
    answerable: list[float] = []
    unrelated: list[float] = []
    for name, collection in collections.items():
        prepared = prepare(collection, embedder, cache)
        for qid, vector in zip(collection.queries, vectors[name], strict=True):
            scores = prepared.mixed(vector, beta)
            top = int(np.argmax(scores))
            if collection.qrels[qid].get(collection.doc_ids[top], 0) > 0:
                answerable.append(float(scores[top]))
        for other, others in vectors.items():
            if other != name:
                unrelated.extend(float(prepared.mixed(v, beta).max()) for v in others)
    return np.array(answerable), np.array(unrelated)


def report(label: str, pos: np.ndarray, neg: np.ndarray) -> dict[str, float]:
    t, answered, abstained = choose(pos, neg)
    print(f"{label}: {len(pos)} answerable (min {pos.min():.3f}, median {np.median(pos):.3f}), "
          f"{len(neg)} unrelated (max {neg.max():.3f}, median {np.median(neg):.3f})")
    print(f"  best threshold {t:.2f}: answered {answered:.3f}, abstained {abstained:.3f}")
    return {"min_score": t, "answered_rate": round(answered, 3),
            "abstained_rate": round(abstained, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder with the collections (cross-check)")
    args = parser.parse_args()
    settings = load_settings()
    embedder = Embedder(settings.model.name)
    result = {"bundled corpus": report("bundled corpus", *corpus_scores(settings, embedder))}
    if args.data:
        result["collections"] = report(
            "collections", *collection_scores(args.data, settings, embedder))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
