"""Exact search: every row compared with the question (faiss ``IndexFlatIP``).

Exact and fast enough to the low hundreds of thousands of passages on two cores;
it is the one index citebot ships. Its file on disk is faiss's own format, so an
index written by an earlier version loads unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from index.errors import IndexCorruptError


class FlatIndex:
    """Inner-product exact search over float32 rows, with removals as a mask."""

    def __init__(self, dim: int, flat: faiss.IndexFlat | None = None) -> None:
        self.dim = dim
        self._flat = flat if flat is not None else faiss.IndexFlatIP(dim)
        self._removed: np.ndarray | None = None

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

    def size(self) -> int:
        """How many rows have been added, removed ones included."""
        return int(self._flat.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        """Append rows after the existing ones."""
        if len(vectors):
            self._flat.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def remove(self, rows: Sequence[int] | np.ndarray) -> None:
        """Mask rows out of every later search (they keep their place)."""
        mask = np.zeros(self.size(), dtype=bool)
        if self._removed is not None:
            mask[: len(self._removed)] = self._removed
        mask[np.asarray(rows, dtype=np.int64)] = True
        self._removed = mask

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` highest inner products per query among the admitted, unremoved rows."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        admit = self._admitted(allowed)
        if admit is None:
            return self._flat.search(queries, k)
        return self._flat.search(queries, k, params=_only(admit))

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored rows (read from faiss's own buffer, no copy of the whole index)."""
        return self.matrix()[rows]

    def matrix(self) -> np.ndarray:
        """Every row, as a read-only view of faiss's buffer (valid until the next add)."""
        if not self._flat.ntotal:
            return np.zeros((0, self.dim), dtype=np.float32)
        flat = faiss.rev_swig_ptr(self._flat.get_xb(), self._flat.ntotal * self.dim)
        view = np.asarray(flat).reshape(self._flat.ntotal, self.dim)
        view.flags.writeable = False
        return view

    def save(self, path: Path) -> None:
        """Write the rows in faiss's format (removed rows are the store's to drop)."""
        faiss.write_index(self._flat, str(path))

    def _admitted(self, allowed: np.ndarray | None) -> np.ndarray | None:
        if self._removed is None:
            return allowed
        living = np.ones(self.size(), dtype=bool)
        living[: len(self._removed)] = ~self._removed
        return living if allowed is None else living & allowed


def _only(mask: np.ndarray) -> faiss.SearchParameters:
    """faiss search parameters that admit only the rows set in ``mask``."""
    bits = np.packbits(mask, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
    params = faiss.SearchParameters(sel=selector)
    # SWIG does not tie these lifetimes together: keep the selector and its buffer alive.
    params.keep_alive = (selector, bits)
    return params
