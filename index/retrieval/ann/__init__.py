"""Vector indexes behind one seam (``VectorIndex``); the only package that imports faiss.

``grow`` is the one place that decides which index a growing set of rows
needs: exact (``FlatIndex``) while small, approximate (``IvfIndex``) from
``index.approximate_from`` rows on.
"""

import numpy as np

from index.retrieval.ann.base import VectorIndex
from index.retrieval.ann.flat import FlatIndex
from index.retrieval.ann.ivf import IvfIndex


def grow(index: VectorIndex, vectors: np.ndarray, approximate_from: int) -> VectorIndex:
    """Add ``vectors`` to ``index`` and return the index to keep for its new size.

    That is ``index`` itself, or, when the rows reach ``approximate_from`` (0:
    never) while ``index`` is flat, or an ``IvfIndex`` has outgrown its lists, a
    new ``IvfIndex`` trained on all the rows (removed rows stay removed). The
    training costs about 1 s per 100,000 rows on two cores, once per growth step;
    an index that starts past the threshold is trained straight from its first
    rows, never built flat first.
    """
    total = index.size() + len(vectors)
    stays = (approximate_from <= 0 or total < approximate_from
             or (isinstance(index, IvfIndex) and not index.needs_training(total)))
    if stays:
        index.add(vectors)
        return index
    rows = (vectors if not index.size()
            else np.vstack([index.vectors(np.arange(index.size())), vectors]))
    bigger = IvfIndex.train(rows)
    bigger.removed = index.removed
    return bigger


__all__ = ["FlatIndex", "IvfIndex", "VectorIndex", "grow"]
