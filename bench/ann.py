"""Exact against approximate vector search on real vectors: what ``index.retrieval.ann`` chose.

    python bench/ann.py [--vectors bench/results/quality/embeddings.sqlite] [--questions 300]

The rows are the real all-MiniLM-L6-v2 vectors that ``bench/quality.py`` caches
(documents and sentences of Cranfield, CISI and SciFact, about 69,000); a
random ``--questions`` of them are held out and searched for. For the flat
index, citebot's ``IvfIndex`` (2·√n lists, 6.5·√lists probed, float16 rows), the
same lists with float32 rows and with 8-bit codes, and faiss HNSW at two sizes,
it prints build time, one-question search time (p50, one thread per question as
the searcher runs), and recall@10 and @100 against exact search, globally and
within a random 10% of the rows (a scope); then citebot's index with an eighth,
a sixth, a quarter and a third of its lists probed (``PROBES_PER_ROOT``). Every
figure as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import faiss
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.scale import real_vectors  # noqa: E402
from index.retrieval.ann import FlatIndex, IvfIndex, VectorIndex  # noqa: E402
from index.retrieval.ann.ivf import (  # noqa: E402
    SAMPLE_PER_LIST,
    TRAINING_ROUNDS,
    shape,
)


class Hnsw:
    """faiss HNSW behind the same two calls the bench makes (for comparison only)."""

    def __init__(self, vectors: np.ndarray, links: int, ef: int) -> None:
        self._index = faiss.IndexHNSWFlat(vectors.shape[1], links, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = 64
        self._index.add(vectors)
        self._ef = ef

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        if allowed is None:
            return self._index.search(queries, k, params=faiss.SearchParametersHNSW(
                efSearch=max(self._ef, k)))
        bits = np.packbits(allowed, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
        return self._index.search(queries, k, params=faiss.SearchParametersHNSW(
            sel=selector, efSearch=max(self._ef, k)))


class IvfVariant:
    """citebot's inverted lists with other row codes (float32 rows, 8-bit codes), to compare."""

    def __init__(self, vectors: np.ndarray, codes: str) -> None:
        lists, self._probes = shape(len(vectors))
        self._quantizer = faiss.IndexFlatIP(vectors.shape[1])
        if codes == "float32":
            self._index = faiss.IndexIVFFlat(self._quantizer, vectors.shape[1], lists,
                                             faiss.METRIC_INNER_PRODUCT)
        else:
            self._index = faiss.IndexIVFScalarQuantizer(
                self._quantizer, vectors.shape[1], lists, faiss.ScalarQuantizer.QT_8bit,
                faiss.METRIC_INNER_PRODUCT)
        self._index.cp.niter = TRAINING_ROUNDS
        self._index.cp.seed = 1234
        self._index.cp.spherical = True
        self._index.cp.max_points_per_centroid = SAMPLE_PER_LIST
        self._index.train(vectors)
        self._index.add(vectors)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        if allowed is None:
            return self._index.search(queries, k, params=faiss.SearchParametersIVF(
                nprobe=self._probes))
        bits = np.packbits(allowed, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
        return self._index.search(queries, k, params=faiss.SearchParametersIVF(
            sel=selector, nprobe=self._probes))


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    k = exact.shape[1]
    return round(float(np.mean([len(set(f) & set(e)) / k
                                for f, e in zip(found.tolist(), exact.tolist(), strict=True)])), 4)


def measure(name: str, make: object, rows: np.ndarray, queries: np.ndarray,
            scope: np.ndarray, exact: dict[str, np.ndarray]) -> dict[str, object]:
    begin = time.perf_counter()
    index: VectorIndex | Hnsw = make(rows)  # type: ignore[operator]
    built = time.perf_counter() - begin
    times = []
    for query in queries:
        begin = time.perf_counter()
        index.search(query[None, :], 100)
        times.append((time.perf_counter() - begin) * 1000)
    figures: dict[str, object] = {"index": name, "build_seconds": round(built, 2),
                                  "search_p50_ms": round(statistics.median(times), 3)}
    for k in (10, 100):
        figures[f"recall_at_{k}"] = recall(index.search(queries, k)[1], exact[f"all{k}"])
        figures[f"recall_at_{k}_scope"] = recall(index.search(queries, k, scope)[1],
                                                 exact[f"scope{k}"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vectors", type=Path,
                        default=HERE / "results" / "quality" / "embeddings.sqlite")
    parser.add_argument("--questions", type=int, default=300)
    args = parser.parse_args()
    pool = real_vectors(args.vectors)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(pool))
    queries = np.ascontiguousarray(pool[order[: args.questions]])
    rows = np.ascontiguousarray(pool[order[args.questions :]])
    scope = rng.random(len(rows)) < 0.1
    scores = queries @ rows.T
    exact = {}
    for k in (10, 100):
        exact[f"all{k}"] = np.argsort(-scores, axis=1)[:, :k]
        exact[f"scope{k}"] = np.argsort(-np.where(scope, scores, -np.inf), axis=1)[:, :k]
    report = {"rows": len(rows), "questions": len(queries), "results": []}
    def probing(share: int) -> IvfIndex:
        index = IvfIndex.train(rows)
        index.probes = max(1, -(-index.lists // share))
        return index

    sweep = [(f"ivf, float16 rows, 1/{share} of the lists probed",
              lambda v, share=share: probing(share)) for share in (8, 6, 4, 3)]
    for name, make in (("flat (exact)", FlatIndex.from_vectors),
                       ("ivf, float16 rows (citebot)", IvfIndex.train),
                       ("ivf, float32 rows", lambda v: IvfVariant(v, "float32")),
                       ("ivf, 8-bit codes", lambda v: IvfVariant(v, "8bit")),
                       ("hnsw M=16 ef=128", lambda v: Hnsw(v, 16, 128)),
                       ("hnsw M=32 ef=256", lambda v: Hnsw(v, 32, 256)), *sweep):
        figures = measure(name, make, rows, queries, scope, exact)
        report["results"].append(figures)  # type: ignore[union-attr]
        print(json.dumps(figures), flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
