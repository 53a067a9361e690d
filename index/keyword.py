"""BM25 keyword search over passages, with English stop words and Snowball stemming.

Dense embeddings miss exact names, numbers and rare terms that a question may
hinge on ("Juliaca", "83 roadblocks"); BM25 catches them. The index is small and
rebuilt in memory from the passage texts at load time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import bm25s
import numpy as np
import Stemmer

log = logging.getLogger(__name__)


class KeywordIndex:
    """A BM25 index over a fixed list of texts; scores come back per text position."""

    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self._stemmer = Stemmer.Stemmer("english")
        self.size = len(texts)
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        if texts:
            tokens = bm25s.tokenize(
                list(texts), stopwords="en", stemmer=self._stemmer, show_progress=False
            )
            self._bm25.index(tokens, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every text for ``query`` (zeros when no term matches)."""
        if not self.size:
            return np.zeros(0, dtype=np.float32)
        tokens = bm25s.tokenize(
            [query], stopwords="en", stemmer=self._stemmer, show_progress=False, return_ids=False
        )[0]
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
