"""Approximate search for large indexes: faiss inverted lists of float16 rows
(``IndexIVFScalarQuantizer``, ``QT_fp16``).

The rows are split into lists around k-means centroids (about 2·√n of them),
and a question is compared only with the rows of the lists whose centroids are
nearest to it (about 6.5·√lists of them: a quarter at 100,000 rows, a seventh
at a million; see ``PROBES_PER_ROOT``). Why this and not HNSW, measured on this 2-core
machine by ``python bench/ann.py`` (real all-MiniLM-L6-v2 vectors: 68,613
document and sentence vectors of Cranfield, CISI and SciFact, 300 more as
questions; a scope is a random 10% of the rows):

================  =====  ======  ==========  ================  ===========  =================
index             build  search  recall@10   recall@10 scoped  recall@100   recall@100 scoped
================  =====  ======  ==========  ================  ===========  =================
flat (exact)      0.1 s  11 ms   1           1                 1            1
IVF, float16      1.1 s  1.1 ms  0.994       0.989             0.990        0.972
HNSW M=16         8.3 s  0.5 ms  0.994       0.963             0.966        0.581
HNSW M=32         8.8 s  0.9 ms  1.000       0.990             0.992        0.803
================  =====  ======  ==========  ================  ===========  =================

(IVF with float32 rows had the same recall; with 8-bit codes, half the memory
of float16, recall@10 was 0.990 and a cosine moved by up to 0.002. Probing a
fixed eighth of the lists instead: 0.5 ms, 0.981 / 0.962 / 0.960 / 0.887.)

HNSW finds the nearest rows better globally, but the searcher asks for 100
candidates inside a scope, where HNSW's filtered walk loses up to 42% of them;
it also costs six times the build, and IVF's later adds only file rows into
lists. A large segment is stored with its lists (``index.retrieval.store``), so
a start reads them instead of training them.

Removed rows are masked, as in ``FlatIndex``. A scoped search filters inside
faiss (a bitmap selector), so a row outside the scope is never returned. A
scope so small that the probed lists might hold fewer than ``k`` of its rows is
searched exactly instead: its rows are few, so that is cheap, and a small
server's search is then exact and never comes back short.
"""

from __future__ import annotations

import math
from pathlib import Path

import faiss
import numpy as np

from index.retrieval.ann.base import MaskedRows, Removed
from index.retrieval.ann.flat import only

LISTS_PER_ROOT = 2
"""Lists per square root of the rows at training time."""
PROBES_PER_ROOT = 6.5
"""Lists probed per question per square root of the lists. The share of the lists a
search must probe for a given recall falls as the index grows: on ``bench/scale.py``'s
synthetic rows, a quarter of 632 lists (100,000 rows) gave recall@10 0.985 and an
eighth 0.956, while at a million rows (2,000 lists) a quarter gave 0.9995 in 15.5 ms,
an eighth 0.999 in 6.0 ms and a sixteenth 0.9965 in 3.4 ms. Probing a fixed share
would scan a quarter of a million rows per question; 6.5·√lists probes a quarter at
100,000 rows (158 of 632; 0.992 on the real vectors of ``bench/ann.py``) and 291 of
2,000 lists at a million."""
EXACT_MARGIN = 4
"""Search a scope exactly when its expected rows in the probed lists are under this many times k."""
TRAINING_ROUNDS = 10
SAMPLE_PER_LIST = 32
"""Rows per list that k-means trains on (faiss samples them with a fixed seed); 64 gave
the same recall at twice the training time (bench/ann.py)."""
RETRAIN_GROWTH = 4
"""Lists are re-trained when the index has grown this many times since they were."""
_PAD_SCORE = np.float32(-3.4028235e38)  # faiss's own filler for a short inner-product list


CODES = {"float16": faiss.ScalarQuantizer.QT_fp16, "8bit": faiss.ScalarQuantizer.QT_8bit}
"""How rows are kept in the lists: float16 (the English leg), or 8-bit codes, half the
memory for a cosine moved by up to 0.002 (bench/ann.py: recall@10 0.990 against 0.994)."""


def probes_for(lists: int) -> int:
    """How many of ``lists`` lists a question probes (``PROBES_PER_ROOT``)."""
    return min(lists, max(1, math.ceil(PROBES_PER_ROOT * math.sqrt(lists))))


def shape(rows: int) -> tuple[int, int]:
    """Lists and probed lists for an index of ``rows`` rows."""
    lists = min(max(1, rows), max(1, round(LISTS_PER_ROOT * math.sqrt(rows))))
    return lists, probes_for(lists)


class IvfIndex(MaskedRows):
    """Inner-product search over inverted lists of float16 rows, removals as a mask.

    float16 halves the memory of float32 rows (a 100,000-passage index's sentences
    take 250 MB instead of 500) with the same recall; a row read back differs from
    the float32 one by at most about 1e-4, a cosine by less (``bench/ann.py``).
    """

    def __init__(self, ivf: faiss.IndexIVF, trained_rows: int) -> None:
        self._index = ivf
        self.dim = int(ivf.d)
        self.lists = int(ivf.nlist)
        self.probes = probes_for(self.lists)
        self.trained_rows = trained_rows
        """How many rows the lists were trained for (see ``needs_training``)."""
        self.removed = Removed()

    @classmethod
    def train(cls, vectors: np.ndarray, seed: int = 1234, codes: str = "float16") -> IvfIndex:
        """An index trained on ``vectors`` and holding them as rows 0..n-1, kept as
        ``codes`` (see ``CODES``).

        Deterministic: the same rows give the same lists (k-means samples with ``seed``).
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        rows, dim = vectors.shape
        lists, _ = shape(rows)
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFScalarQuantizer(quantizer, dim, lists, CODES[codes],
                                            faiss.METRIC_INNER_PRODUCT)
        ivf.cp.niter = TRAINING_ROUNDS
        ivf.cp.seed = seed
        ivf.cp.spherical = True
        ivf.cp.max_points_per_centroid = SAMPLE_PER_LIST
        ivf.cp.min_points_per_centroid = 1
        ivf.train(vectors)
        ivf.make_direct_map(True)  # rows can be read back (rescoring, compaction)
        index = cls(ivf, rows)
        index.add(vectors)
        return index

    def needs_training(self, rows: int | None = None) -> bool:
        """Whether the index has outgrown (or, at ``rows`` rows, would outgrow) its
        lists, which would grow long and slow."""
        return (self.size() if rows is None else rows) >= RETRAIN_GROWTH * max(1, self.trained_rows)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best admitted, unremoved rows per query (approximate but for small scopes)."""
        queries, admit = self._prepare(queries, allowed)
        if admit is None:
            return self._index.search(queries, k, params=faiss.SearchParametersIVF(
                nprobe=self.probes))
        if int(admit.sum()) * self.probes < EXACT_MARGIN * k * self.lists:
            return self._exact(queries, k, np.flatnonzero(admit))
        selector = only(admit)  # held here until faiss is done with it
        return self._index.search(queries, k, params=faiss.SearchParametersIVF(
            sel=selector, nprobe=self.probes))

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored rows (read back through the index's row map)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if not len(rows):
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._index.reconstruct_batch(rows)

    def save(self, path: Path) -> None:
        """Write the index, lists and row map included, in faiss's format (read back by
        ``index.retrieval.ann.load_index``)."""
        faiss.write_index(self._index, str(path))

    def _exact(self, queries: np.ndarray, k: int, rows: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        scores = np.full((len(queries), k), _PAD_SCORE, dtype=np.float32)
        found = np.full((len(queries), k), -1, dtype=np.int64)
        take = min(k, len(rows))
        if not take:
            return scores, found
        products = queries @ self.vectors(rows).T
        best = np.argpartition(-products, take - 1, axis=1)[:, :take]
        best_scores = np.take_along_axis(products, best, axis=1)
        order = np.argsort(-best_scores, axis=1, kind="stable")
        scores[:, :take] = np.take_along_axis(best_scores, order, axis=1)
        found[:, :take] = rows[np.take_along_axis(best, order, axis=1)]
        return scores, found
