"""The seam every vector index sits behind: what the searcher, the live index and the store need.

Rows are positions: the ``i``-th vector added is row ``i`` for as long as the
index lives, so a row number is the same passage in the live index, the keyword
index and the store. A removed row stays in place and is never returned again;
the store drops it when it next compacts. ``allowed`` masks let one search admit
only some rows (one server's scope, the living rows), enforced inside the index
so that a search still returns ``k`` hits from the admitted rows.

Only the modules of this package import faiss.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class VectorIndex(Protocol):
    """A growable set of unit vectors searched by inner product."""

    dim: int

    def size(self) -> int:
        """How many rows have been added (removed rows included: rows never move)."""
        ...

    def add(self, vectors: np.ndarray) -> None:
        """Append rows (float32, ``(n, dim)``) after the existing ones."""
        ...

    def remove(self, rows: Sequence[int] | np.ndarray) -> None:
        """Stop returning these rows from any search."""
        ...

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and rows of the ``k`` best rows for each query (``-1`` pads a short list).

        ``allowed`` (a boolean mask over rows) admits only the rows set in it.
        """
        ...

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of these rows, for rescoring and relevance feedback."""
        ...

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (the caller makes the write atomic)."""
        ...


class Removed:
    """The rows removed from an index, as a mask that grows with it."""

    def __init__(self) -> None:
        self.mask: np.ndarray | None = None

    def mark(self, rows: Sequence[int] | np.ndarray, size: int) -> None:
        """Add ``rows`` to the removed ones (``size``: the index's row count now)."""
        mask = np.zeros(size, dtype=bool)
        if self.mask is not None:
            mask[: len(self.mask)] = self.mask
        mask[np.asarray(rows, dtype=np.int64)] = True
        self.mask = mask

    def admitted(self, allowed: np.ndarray | None, size: int) -> np.ndarray | None:
        """The rows a search may return: ``allowed`` ones that were not removed
        (None: every row)."""
        if self.mask is None:
            return allowed
        living = np.ones(size, dtype=bool)
        living[: len(self.mask)] = ~self.mask
        return living if allowed is None else living & allowed


class MaskedRows:
    """What the faiss-backed indexes share: rows that only grow, removals kept as a mask.

    A subclass sets ``_index`` (its faiss index), ``dim`` and ``removed``.
    """

    _index: Any
    dim: int
    removed: Removed

    def size(self) -> int:
        """How many rows have been added, removed ones included."""
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        """Append rows after the existing ones."""
        if len(vectors):
            self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def remove(self, rows: Sequence[int] | np.ndarray) -> None:
        """Mask rows out of every later search (they keep their place)."""
        self.removed.mark(rows, self.size())

    def _prepare(self, queries: np.ndarray, allowed: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """Queries as faiss takes them, and the rows a search may return (None: all)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        return queries, self.removed.admitted(allowed, self.size())
