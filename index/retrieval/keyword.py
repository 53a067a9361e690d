"""BM25 keyword search over passages, with English stop words and Snowball stemming.

Dense embeddings miss exact names, numbers and rare terms that a question may
hinge on ("Juliaca", "83 roadblocks"); BM25 catches them.

The index is incremental: adding a passage touches only its own terms and
removing one only decrements them, so an article added to a large corpus costs
time in proportion to the article. Scores are computed at query time from the
current document frequencies and lengths (Lucene's BM25, as bm25s computes it
eagerly), so they stay exact after any number of adds and removes. Tokens come
from ``bm25s.tokenize`` so the vocabulary handling matches bm25s exactly.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence

import bm25s
import numpy as np
import Stemmer

log = logging.getLogger(__name__)


class KeywordIndex:
    """A BM25 index over texts addressed by position; positions can be added and retired."""

    def __init__(self, texts: Sequence[str] = (), k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._stemmer = Stemmer.Stemmer("english")
        self._vocab: dict[str, int] = {}
        self._post_docs: list[list[int]] = []
        self._post_tf: list[list[int]] = []
        self._df: list[int] = []
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._doc_terms: list[tuple[tuple[int, int], ...]] = []
        self._lengths = np.zeros(0, dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self.size = 0
        self.live = 0
        self._total_length = 0
        if texts:
            self.add(texts)

    def add(self, texts: Sequence[str]) -> range:
        """Index ``texts`` at the next positions and return those positions."""
        start = self.size
        if not texts:
            return range(start, start)
        tokens = bm25s.tokenize(
            list(texts), stopwords="en", stemmer=self._stemmer, show_progress=False,
            return_ids=False,
        )
        self._grow(start + len(texts))
        for offset, words in enumerate(tokens):
            position = start + offset
            counts = Counter(words)
            terms = []
            for word, tf in counts.items():
                term = self._vocab.get(word)
                if term is None:
                    term = self._vocab[word] = len(self._df)
                    self._post_docs.append([])
                    self._post_tf.append([])
                    self._df.append(0)
                self._post_docs[term].append(position)
                self._post_tf[term].append(tf)
                self._df[term] += 1
                self._arrays.pop(term, None)
                terms.append((term, tf))
            self._doc_terms.append(tuple(terms))
            self._lengths[position] = len(words)
            self._alive[position] = True
            self._total_length += len(words)
        self.size += len(texts)
        self.live += len(texts)
        return range(start, self.size)

    def retire(self, positions: Sequence[int]) -> None:
        """Take positions out of the statistics; they score zero from now on."""
        for position in positions:
            if not self._alive[position]:
                continue
            self._alive[position] = False
            self.live -= 1
            self._total_length -= int(self._lengths[position])
            for term, _ in self._doc_terms[position]:
                self._df[term] -= 1

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every position for ``query`` (zeros when no term matches)."""
        out = np.zeros(self.size, dtype=np.float32)
        if not self.live:
            return out
        words = bm25s.tokenize(
            [query], stopwords="en", stemmer=self._stemmer, show_progress=False, return_ids=False
        )[0]
        average = self._total_length / self.live
        for word in words:
            term = self._vocab.get(word)
            if term is None or not self._df[term]:
                continue
            docs, tf = self._postings(term)
            df = self._df[term]
            idf = math.log(1 + (self.live - df + 0.5) / (df + 0.5))
            norm = self.k1 * ((1 - self.b) + self.b * self._lengths[docs] / average)
            out[docs] += (idf * tf / (norm + tf)).astype(np.float32)
        out[~self._alive[: self.size]] = 0.0
        return out

    def _postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        cached = self._arrays.get(term)
        if cached is None:
            cached = (np.array(self._post_docs[term], dtype=np.int64),
                      np.array(self._post_tf[term], dtype=np.float32))
            self._arrays[term] = cached
        return cached

    def _grow(self, size: int) -> None:
        if size <= len(self._lengths):
            return
        capacity = max(size, 2 * len(self._lengths), 64)
        self._lengths = np.resize(self._lengths, capacity)
        alive = np.zeros(capacity, dtype=bool)
        alive[: len(self._alive)] = self._alive
        self._alive = alive
