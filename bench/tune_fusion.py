"""Which ranking choices help: a grid over the searcher's settings, chosen on SciFact train.

Every configuration is a ``SearchSettings`` run through the library's own
ranking (``index.evaluation.runner.rank_queries``), so a row here is exactly what
``citebot eval`` measures with that configuration. Options:

* fusion: z-score, min-max, theoretical min-max or reciprocal-rank (k=60),
  with the dense weight w;
* passage vs document scoring: the share of the best sentence's cosine in a
  document's dense score (0 = whole document only);
* dense pseudo-relevance feedback: the share by which the query moves towards
  its top-3 documents;
* the fusion pool: candidates taken from each retriever.

The best configuration on SciFact's *train* judgments is then shown, with one
option changed at a time, on Cranfield, CISI and SciFact test.

    python bench/tune_fusion.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from index.config import SearchSettings, load_settings  # noqa: E402
from index.evaluation import load_collection, prepare, rank_queries, score_runs  # noqa: E402
from index.retrieval.embedder import EmbeddingCache, load_encoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with the collections")
    args = parser.parse_args()
    settings = load_settings()
    data_dir = Path(os.environ.get("CITEBOT_DATA_DIR") or settings.data_dir)
    embedder = load_encoder(settings.model)
    cache = EmbeddingCache(data_dir / "embeddings.sqlite")

    def ndcg(prepared, search: SearchSettings) -> dict[str, float]:  # type: ignore[no-untyped-def]
        return score_runs(rank_queries(prepared, search), prepared.collection.qrels)["fused"]

    train = prepare(load_collection(args.data / "scifact", "train"), embedder, cache)
    grid = itertools.product(("zscore", "minmax", "tmm", "rrf"), (0.4, 0.5, 0.6, 0.7),
                             (0.0, 0.5, 0.7), (0.0, 0.2))
    results = []
    for fusion, w, beta, feedback in grid:
        search = SearchSettings(fusion=fusion, dense_weight=w, sentence_weight=beta,
                                feedback=feedback)
        results.append((ndcg(train, search)["ndcg@10"], search))
    results.sort(key=lambda r: -r[0])
    print("best on SciFact train (nDCG@10 of the fused ranking):")
    for score, s in results[:8]:
        print(f"  {score:.4f}  fusion={s.fusion} w={s.dense_weight} "
              f"sentence={s.sentence_weight} feedback={s.feedback}")
    best = results[0][1]
    for pool in (20, 50):
        score = ndcg(train, dataclasses.replace(best, candidates=pool))["ndcg@10"]
        print(f"  {score:.4f}  same with a pool of {pool} candidates")
    variants = {
        "reciprocal rank k=60, whole documents": SearchSettings(
            fusion="rrf", dense_weight=0.5, sentence_weight=0.0, feedback=0.0),
        "z-score w=0.5, whole documents": SearchSettings(
            fusion="zscore", dense_weight=0.5, sentence_weight=0.0, feedback=0.0),
        "best, without sentence scoring": dataclasses.replace(best, sentence_weight=0.0),
        "best, without feedback": dataclasses.replace(best, feedback=0.0),
        "best, dense weight 0.7": dataclasses.replace(best, dense_weight=0.7),
        "best, pool of 20 candidates": dataclasses.replace(best, candidates=20),
        "best (chosen on train)": best,
    }
    print(f"\n{'variant':<40}{'Cranfield':>10}{'CISI':>8}{'SciFact':>9}")
    tests = {n: prepare(load_collection(args.data / n), embedder, cache)
             for n in ("cranfield", "cisi", "scifact")}
    for label, search in variants.items():
        row = [ndcg(tests[n], search)["ndcg@10"] for n in tests]
        print(f"{label:<40}{row[0]:>10.4f}{row[1]:>8.4f}{row[2]:>9.4f}")


if __name__ == "__main__":
    main()
