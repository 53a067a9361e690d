"""Which ranking choices help: a grid over fusion and scoring options, tuned on SciFact train.

Options tried (each a switch the searcher has, or had while we measured it):

* fusion: reciprocal rank (k=60), min-max or z-score normalisation, dense weight w;
* passage vs document scoring: a document's dense score mixes its whole-text
  cosine with its best sentence's cosine (share ``beta``);
* dense pseudo-relevance feedback: the query vector moves towards the mean of
  its top-3 documents (share ``prf``);
* title handling: the title repeated in BM25's text.

Every configuration is chosen on SciFact's *train* judgments only; the table
then shows the chosen setting on Cranfield, CISI and SciFact test.

    python bench/tune_fusion.py --data ../shared/data [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from index.embedder import Embedder, EmbeddingCache, embed_with_cache  # noqa: E402
from index.evaluation import DEPTH, load_collection, score_runs  # noqa: E402
from index.fusion import fuse  # noqa: E402
from index.keyword import KeywordIndex  # noqa: E402
from index.sentences import split_sentences  # noqa: E402


class Prepared:
    """Per-collection matrices: doc, best-sentence and BM25 scores for every query."""

    def __init__(self, folder: Path, split: str, embedder: Embedder, cache: EmbeddingCache,
                 title_repeat: int = 1) -> None:
        c = load_collection(folder, split)
        self.c = c
        texts = c.doc_texts()
        t0 = time.time()
        self.docs = embed_with_cache(embedder, cache, texts)
        sents, owner = [], []
        for i, (title, text) in enumerate(zip(c.titles, c.texts, strict=True)):
            parts = [title] if title.strip() else []
            parts += split_sentences(text)
            sents.extend(parts)
            owner.extend([i] * len(parts))
        self.sent_vecs = embed_with_cache(embedder, cache, sents)
        self.owner = np.array(owner)
        self.qids = list(c.queries)
        self.q = embedder.encode([c.queries[q] for q in self.qids])
        bm_texts = [(f"{t} " * title_repeat) + x for t, x in zip(c.titles, c.texts, strict=True)]
        kw = KeywordIndex(bm_texts)
        self.bm25 = np.stack([kw.scores(c.queries[q]) for q in self.qids])
        self.doc_cos = self.q @ self.docs.T
        sent_cos = self.q @ self.sent_vecs.T
        n = len(c.doc_ids)
        best = np.full((len(self.qids), n), -1.0, dtype=np.float32)
        for j in range(sent_cos.shape[1]):
            np.maximum(best[:, self.owner[j]], sent_cos[:, j], out=best[:, self.owner[j]])
        self.sent_cos = best
        print(f"  prepared {folder.name}/{split}: {n} docs, {len(sents)} sentences, "
              f"{len(self.qids)} queries in {time.time() - t0:.0f}s", file=sys.stderr)

    def dense(self, beta: float, prf: float) -> np.ndarray:
        scores = (1 - beta) * self.doc_cos + beta * self.sent_cos
        if prf > 0:
            top = np.argsort(-scores, axis=1)[:, :3]
            centroid = self.docs[top].mean(axis=1)
            q2 = (1 - prf) * self.q + prf * centroid
            q2 /= np.linalg.norm(q2, axis=1, keepdims=True)
            doc = q2 @ self.docs.T
            sent = np.full_like(self.sent_cos, -1.0)
            sc = q2 @ self.sent_vecs.T
            for j in range(sc.shape[1]):
                np.maximum(sent[:, self.owner[j]], sc[:, j], out=sent[:, self.owner[j]])
            scores = (1 - beta) * doc + beta * sent
        return scores

    def run(self, method: str, w: float, beta: float, prf: float, cand: int = 100
            ) -> dict[str, dict[str, float]]:
        dense = self.dense(beta, prf)
        ids = self.c.doc_ids
        runs: dict[str, dict[str, list[str]]] = {"bm25": {}, "dense": {}, "fused": {}}
        for r, q in enumerate(self.qids):
            d, s = dense[r], self.bm25[r]
            dt = np.argsort(-d)[:cand]
            st = np.argsort(-s)[:cand]
            st = st[s[st] > 0]
            union = np.union1d(dt, st)
            f = fuse(d[union], s[union], w, method)
            order = union[np.argsort(-f, kind="stable")]
            runs["bm25"][q] = [ids[i] for i in st[:DEPTH]]
            runs["dense"][q] = [ids[i] for i in dt[:DEPTH]]
            runs["fused"][q] = [ids[i] for i in order[:DEPTH]]
        return score_runs(runs, self.c.qrels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with the collections")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get(
        "CITEBOT_DATA_DIR", Path.home() / ".local/share/citebot")) / "embeddings.sqlite")
    parser.add_argument("--quick", action="store_true", help="a smaller grid")
    args = parser.parse_args()
    embedder = Embedder("all-MiniLM-L6-v2")
    cache = EmbeddingCache(args.cache)
    train = Prepared(args.data / "scifact", "train", embedder, cache)
    methods = ["rrf", "minmax", "zscore"]
    weights = [0.3, 0.4, 0.5, 0.6, 0.7] if args.quick else [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    betas = [0.0, 0.3, 0.5, 0.7]
    prfs = [0.0, 0.2] if args.quick else [0.0, 0.1, 0.2, 0.3]
    results = []
    for method, w, beta, prf in itertools.product(methods, weights, betas, prfs):
        m = train.run(method, w, beta, prf)["fused"]["ndcg@10"]
        results.append((m, method, w, beta, prf))
    results.sort(reverse=True)
    print("best on SciFact train (nDCG@10 of fused):")
    for m, method, w, beta, prf in results[:10]:
        print(f"  {m:.4f}  fusion={method} w={w} beta={beta} prf={prf}")
    best = results[0][1:]
    print(json.dumps({"chosen": dict(zip(["fusion", "dense_weight", "beta", "prf"], best,
                                         strict=True))}))
    variants = {
        "RRF k=60, whole document": ("rrf", 0.5, 0.0, 0.0),
        "z-score w=0.5, whole document": ("zscore", 0.5, 0.0, 0.0),
        "best, without sentence scoring": (best[0], best[1], 0.0, best[3]),
        "best, without PRF": (best[0], best[1], best[2], 0.0),
        "chosen": best,
    }
    for name in ("cranfield", "cisi", "scifact"):
        test = Prepared(args.data / name, "test", embedder, cache)
        for label, (method, w, beta, prf) in variants.items():
            r = test.run(method, w, beta, prf)
            print(f"{name:<10} {label:<34} bm25 {r['bm25']['ndcg@10']:.4f}  "
                  f"dense {r['dense']['ndcg@10']:.4f}  fused {r['fused']['ndcg@10']:.4f}  "
                  f"R@100 {r['fused']['recall@100']:.4f}")


if __name__ == "__main__":
    main()
