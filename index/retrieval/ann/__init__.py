"""Vector indexes behind one seam (``VectorIndex``); the only package that imports faiss.

``grow`` is the one place that decides which index a growing set of rows
needs: exact (``FlatIndex``) while small, approximate (``IvfIndex``) from
``index.approximate_from`` rows on.
"""

from pathlib import Path

import faiss
import numpy as np

from index.errors import IndexCorruptError
from index.retrieval.ann.base import VectorIndex
from index.retrieval.ann.flat import FlatIndex
from index.retrieval.ann.ivf import IvfIndex


def grow(index: VectorIndex, vectors: np.ndarray, approximate_from: int,
         codes: str = "float16") -> VectorIndex:
    """Add ``vectors`` to ``index`` and return the index to keep for its new size.

    That is ``index`` itself, or, when the rows reach ``approximate_from`` (0:
    never) while ``index`` is flat, or an ``IvfIndex`` has outgrown its lists, a
    new ``IvfIndex`` trained on all the rows; with ``approximate_from`` 0, an
    ``IvfIndex`` becomes flat again. Removed rows stay removed. The
    training costs about 1 s per 100,000 rows on two cores, once per growth step;
    an index that starts past the threshold is trained straight from its first
    rows, never built flat first. ``codes``: how a new ``IvfIndex`` keeps its rows
    (``ivf.CODES``).
    """
    total = index.size() + len(vectors)
    if approximate_from <= 0 and isinstance(index, IvfIndex):  # exact asked for: go back
        exact = FlatIndex.from_vectors(np.vstack([index.vectors(np.arange(index.size())),
                                                  vectors]))
        exact.removed = index.removed
        return exact
    stays = (approximate_from <= 0 or total < approximate_from
             or (isinstance(index, IvfIndex) and not index.needs_training(total)))
    if stays:
        index.add(vectors)
        return index
    rows = (vectors if not index.size()
            else np.vstack([index.vectors(np.arange(index.size())), vectors]))
    bigger = IvfIndex.train(rows, codes=codes)
    bigger.removed = index.removed
    return bigger


def load_index(path: Path) -> VectorIndex:
    """Read an index that ``save`` wrote, of whichever kind it is.

    Raises:
        IndexCorruptError: the file is not a faiss index of a kind citebot writes.
    """
    try:
        raw = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise IndexCorruptError(f"cannot read {path}: {exc}") from None
    if isinstance(raw, faiss.IndexIVF):
        return IvfIndex(raw, int(raw.ntotal))
    if isinstance(raw, faiss.IndexFlat):
        return FlatIndex(int(raw.d), raw)
    raise IndexCorruptError(f"{path} holds a {type(raw).__name__}, which citebot does not write")


__all__ = ["FlatIndex", "IvfIndex", "VectorIndex", "grow", "load_index"]
