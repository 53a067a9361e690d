"""Exact search: every row compared with the question (faiss ``IndexFlatIP``).

Exact, and fast enough while an index is small: the live index starts with
it and moves to ``IvfIndex`` past ``index.approximate_from`` rows (see
``index.retrieval.ann.grow``). Segments on disk are always written in this
format (faiss's own), so an index written by an earlier version loads unchanged.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from index.errors import IndexCorruptError
from index.retrieval.ann.base import MaskedRows, Removed


class FlatIndex(MaskedRows):
    """Inner-product exact search over float32 rows, with removals as a mask."""

    def __init__(self, dim: int, flat: faiss.IndexFlat | None = None) -> None:
        self.dim = dim
        self._index = flat if flat is not None else faiss.IndexFlatIP(dim)
        self.removed = Removed()

    @classmethod
    def from_vectors(cls, vectors: np.ndarray) -> FlatIndex:
        """An index holding ``vectors`` as rows 0..n-1."""
        index = cls(vectors.shape[1])
        index.add(vectors)
        return index

    @classmethod
    def load(cls, path: Path) -> FlatIndex:
        """Read an index written by ``save``.

        Raises:
            IndexCorruptError: the file cannot be read as a faiss index.
        """
        try:
            flat = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise IndexCorruptError(f"cannot read {path}: {exc}") from None
        return cls(flat.d, flat)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` highest inner products per query among the admitted, unremoved rows."""
        queries, admit = self._prepare(queries, allowed)
        if admit is None:
            return self._index.search(queries, k)
        selector = only(admit)  # held here until faiss is done with it
        return self._index.search(queries, k, params=faiss.SearchParameters(sel=selector))

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored rows (read from faiss's own buffer, no copy of the whole index)."""
        return self.matrix()[rows]

    def matrix(self) -> np.ndarray:
        """Every row, as a read-only view of faiss's buffer (valid until the next add)."""
        if not self._index.ntotal:
            return np.zeros((0, self.dim), dtype=np.float32)
        flat = faiss.rev_swig_ptr(self._index.get_xb(), self._index.ntotal * self.dim)
        view = np.asarray(flat).reshape(self._index.ntotal, self.dim)
        view.flags.writeable = False
        return view

    def save(self, path: Path) -> None:
        """Write the rows in faiss's format (removed rows are the store's to drop)."""
        faiss.write_index(self._index, str(path))



def only(mask: np.ndarray) -> faiss.IDSelector:
    """A faiss selector that admits only the rows set in ``mask``.

    SWIG does not tie the selector's lifetime to the bitmap it reads, nor search
    parameters' to their selector: the bitmap rides along as an attribute, and
    the caller holds the selector in a variable until the search returns.
    """
    bits = np.packbits(mask, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
    selector.keep_alive = bits
    return selector
