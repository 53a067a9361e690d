"""BM25 keyword search over passages, with English stop words and Snowball stemming.

Dense embeddings miss exact names, numbers and rare terms that a question may
hinge on ("Juliaca", "83 roadblocks"); BM25 catches them.

The index is incremental: adding passages touches only their own terms and
removing one only decrements them, so an article added to a large corpus costs
time in proportion to the article. Scores are computed at query time from the
current document frequencies and lengths (Lucene's BM25, as bm25s computes it
eagerly), so they stay exact after any number of adds and removes. Tokens come
from ``bm25s.tokenize`` so the vocabulary handling matches bm25s exactly.

Why numpy blocks and not Python lists: tokenizing is the expensive part (about
7 s per 100,000 passages on this machine), so a segment's postings are built
once, when it is written, and stored beside it (``save_terms``); a start maps
them from disk as they are (``KeywordIndex.adopt``: no tokenizing, no sort, and
only the postings of the terms questions use are ever read). Each add makes
one block (a term's postings are the concatenation of its slices in every
block); small blocks are merged once there are more than ``MAX_BLOCKS``, so a
query reads a few slices per term.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

log = logging.getLogger(__name__)

MAX_BLOCKS = 8
"""Blocks beyond the first are merged into one when there are more than this many."""


@dataclass(frozen=True)
class Tokens:
    """Texts as BM25 terms: a vocabulary and, per text, its distinct terms and their counts."""

    vocab: list[str]
    """The words, indexed by ``terms``."""
    offsets: np.ndarray
    """int64, one more than there are texts: text i's terms are
    ``terms[offsets[i]:offsets[i+1]]``."""
    terms: np.ndarray
    """int32 indexes into ``vocab``."""
    counts: np.ndarray
    """int32: how often each term occurs in its text."""

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def select(self, rows: Sequence[int] | np.ndarray) -> Tokens:
        """The tokens of some texts only, in the order of ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        lengths = ends - starts
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        picked = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return Tokens(self.vocab, offsets, self.terms[picked], self.counts[picked])


def tokenize(texts: Sequence[str], stemmer: Stemmer.Stemmer | None = None) -> Tokens:
    """BM25 terms of ``texts`` as bm25s makes them (English stop words, Snowball stems)."""
    stemmer = stemmer or Stemmer.Stemmer("english")
    if not texts:
        return Tokens([], np.zeros(1, dtype=np.int64),
                      np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32))
    tokenized = bm25s.tokenize(list(texts), stopwords="en", stemmer=stemmer,
                               show_progress=False, return_ids=True)
    vocab = [""] * len(tokenized.vocab)
    for word, index in tokenized.vocab.items():
        vocab[index] = word
    lengths = np.fromiter((len(ids) for ids in tokenized.ids), dtype=np.int64, count=len(texts))
    flat = np.fromiter((i for ids in tokenized.ids for i in ids), dtype=np.int64,
                       count=int(lengths.sum()))
    owner = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    # One (text, term) pair per distinct term of a text, with its count, in text order.
    pairs, counts = np.unique(owner * max(1, len(vocab)) + flat, return_counts=True)
    texts_of = pairs // max(1, len(vocab))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(texts_of, minlength=len(texts)), out=offsets[1:])
    return Tokens(vocab, offsets, (pairs % max(1, len(vocab))).astype(np.int32),
                  counts.astype(np.int32))


@dataclass(frozen=True)
class _Block:
    """The postings of the texts at positions ``start`` .. ``start + len(offsets) - 2``."""

    start: int
    pointers: np.ndarray
    """By global term: its postings are ``docs[pointers[t]:pointers[t+1]]`` (terms known then)."""
    docs: np.ndarray
    tf: np.ndarray
    offsets: np.ndarray
    """By text, as in ``Tokens``: what ``retire`` needs to take a text out of the statistics."""
    terms: np.ndarray
    counts: np.ndarray

    @classmethod
    def build(cls, start: int, offsets: np.ndarray, terms: np.ndarray, counts: np.ndarray,
              vocabulary: int) -> _Block:
        docs = (start + np.repeat(np.arange(len(offsets) - 1, dtype=np.int64),
                                  np.diff(offsets))).astype(np.int32)
        order = np.argsort(terms, kind="stable")
        pointers = np.zeros(vocabulary + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=vocabulary), out=pointers[1:])
        return cls(start, pointers, docs[order], counts[order].astype(np.float32),
                   offsets, terms, counts)

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        if term + 1 >= len(self.pointers):
            return self.docs[:0], self.tf[:0]
        a, b = self.pointers[term], self.pointers[term + 1]
        return self.docs[a:b], self.tf[a:b]


STORED = ("offsets", "terms", "counts", "pointers", "docs", "tf", "lengths", "df")
"""The arrays ``save_terms`` writes (``<name>.npy``), beside ``vocab.txt``."""

STORED_FILES = ("vocab.txt", *(f"{name}.npy" for name in STORED))


@dataclass(frozen=True)
class StoredTerms:
    """A segment's keyword index as its write built it, read back memory-mapped."""

    vocab: list[str]
    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.arrays["offsets"]) - 1

    def tokens(self) -> Tokens:
        """The texts' terms, to add them to an index that already holds others."""
        a = self.arrays
        return Tokens(self.vocab, np.asarray(a["offsets"], dtype=np.int64),
                      np.asarray(a["terms"], dtype=np.int32),
                      np.asarray(a["counts"], dtype=np.int32))


def save_terms(tokens: Tokens, folder: Path) -> None:
    """Write ``tokens`` with their postings built, for ``load_terms`` (the caller makes
    the write atomic). No pickles: the arrays load with ``allow_pickle=False``."""
    folder.mkdir(exist_ok=True)
    block = _Block.build(0, tokens.offsets, tokens.terms, tokens.counts, len(tokens.vocab))
    owner = np.repeat(np.arange(len(tokens), dtype=np.int64), np.diff(tokens.offsets))
    arrays = {"offsets": tokens.offsets.astype(np.int64), "terms": block.terms,
              "counts": block.counts, "pointers": block.pointers, "docs": block.docs,
              "tf": block.tf,
              "lengths": np.bincount(owner, weights=tokens.counts,
                                     minlength=len(tokens)).astype(np.int32),
              "df": np.bincount(tokens.terms, minlength=len(tokens.vocab)).astype(np.int64)}
    # A term never holds a line break: the words go one per line.
    (folder / "vocab.txt").write_text("\n".join(tokens.vocab), encoding="utf-8")
    for name in STORED:
        np.save(folder / f"{name}.npy", arrays[name])


def load_terms(folder: Path, texts: int) -> StoredTerms:
    """Map what ``save_terms`` wrote for ``texts`` texts (the arrays stay on disk).

    Raises:
        OSError, ValueError, UnicodeDecodeError: a file is missing, cut short or
            does not fit the others.
    """
    text = (folder / "vocab.txt").read_text(encoding="utf-8")
    vocab = text.split("\n") if text else []
    a = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
         for name in STORED}
    postings = len(a["terms"])
    if not (len(a["offsets"]) == texts + 1 == len(a["lengths"]) + 1
            and int(a["offsets"][0]) == 0 and int(a["offsets"][-1]) == postings
            and len(a["counts"]) == len(a["docs"]) == len(a["tf"]) == postings
            and len(a["pointers"]) == len(vocab) + 1 == len(a["df"]) + 1
            and int(a["pointers"][-1]) == postings):
        raise ValueError(f"the keyword files in {folder} do not fit together")
    return StoredTerms(vocab, a)


class KeywordIndex:
    """A BM25 index over texts addressed by position; positions can be added and retired."""

    def __init__(self, texts: Sequence[str] = (), k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._stemmer = Stemmer.Stemmer("english")
        self._vocab: dict[str, int] = {}
        self._df = np.zeros(0, dtype=np.int64)
        self._blocks: list[_Block] = []
        self._lengths = np.zeros(0, dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self.size = 0
        self.live = 0
        self._total_length = 0
        if texts:
            self.add(texts)

    def tokenize(self, texts: Sequence[str]) -> Tokens:
        """``texts`` as this index reads them (to store beside a segment, or to add)."""
        return tokenize(texts, self._stemmer)

    def add(self, texts: Sequence[str]) -> range:
        """Index ``texts`` at the next positions and return those positions."""
        return self.add_tokens(self.tokenize(texts))

    def add_tokens(self, tokens: Tokens) -> range:
        """Index already tokenized texts at the next positions and return those positions."""
        start = self.size
        n = len(tokens)
        if not n:
            return range(start, start)
        mapping = np.fromiter((self._vocab.setdefault(w, len(self._vocab))
                               for w in tokens.vocab),
                              dtype=np.int64, count=len(tokens.vocab))
        terms = mapping[tokens.terms] if len(tokens.terms) else np.zeros(0, dtype=np.int64)
        vocabulary = len(self._vocab)
        if len(self._df) < vocabulary:
            self._df = np.concatenate([self._df, np.zeros(vocabulary - len(self._df), np.int64)])
        self._df += np.bincount(terms, minlength=vocabulary)[: len(self._df)]
        owner = np.repeat(np.arange(n, dtype=np.int64), np.diff(tokens.offsets))
        lengths = np.bincount(owner, weights=tokens.counts, minlength=n).astype(np.int64)
        self._grow(start + n)
        self._lengths[start : start + n] = lengths
        self._alive[start : start + n] = True
        self._total_length += int(lengths.sum())
        self._blocks.append(_Block.build(start, tokens.offsets, terms, tokens.counts,
                                         vocabulary))
        if len(self._blocks) > MAX_BLOCKS:
            self._merge_tail()
        self.size += n
        self.live += n
        return range(start, self.size)

    def adopt(self, stored: StoredTerms) -> range:
        """Take a stored segment's postings as this empty index's: mapped, not copied
        or sorted (a start of a large index), and read only where a query looks."""
        if self.size:
            raise ValueError("only an empty keyword index can adopt a segment's postings")
        a, n = stored.arrays, len(stored)
        self._vocab = {word: i for i, word in enumerate(stored.vocab)}
        self._df = np.array(a["df"], dtype=np.int64)
        self._grow(n)
        self._lengths[:n] = a["lengths"]
        self._alive[:n] = True
        self._total_length = int(np.sum(a["lengths"], dtype=np.int64))
        self._blocks = [_Block(0, a["pointers"], a["docs"], a["tf"], a["offsets"], a["terms"],
                               a["counts"])]
        self.size = self.live = n
        return range(0, n)

    def retire(self, positions: Sequence[int]) -> None:
        """Take positions out of the statistics; they score zero from now on."""
        starts = [block.start for block in self._blocks]
        for position in positions:
            if not self._alive[position]:
                continue
            self._alive[position] = False
            self.live -= 1
            self._total_length -= int(self._lengths[position])
            block = self._blocks[bisect.bisect_right(starts, position) - 1]
            row = position - block.start
            self._df[block.terms[block.offsets[row] : block.offsets[row + 1]]] -= 1

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every position for ``query`` (zeros when no term matches)."""
        out = np.zeros(self.size, dtype=np.float32)
        if not self.live:
            return out
        average = self._total_length / self.live
        for word in self.query_terms(query):
            term = self._vocab.get(word)
            if term is None or not self._df[term]:
                continue
            docs, tf = self.postings(term)
            df = int(self._df[term])
            idf = math.log(1 + (self.live - df + 0.5) / (df + 0.5))
            norm = self.k1 * ((1 - self.b) + self.b * self._lengths[docs] / average)
            out[docs] += (idf * tf / (norm + tf)).astype(np.float32)
        out[~self._alive[: self.size]] = 0.0
        return out

    def query_terms(self, query: str) -> list[str]:
        """The terms of a question, as the texts' were made."""
        return bm25s.tokenize([query], stopwords="en", stemmer=self._stemmer,
                              show_progress=False, return_ids=False)[0]

    def term(self, word: str) -> int | None:
        """A term's number, or None for a word no text has."""
        return self._vocab.get(word)

    def document_frequency(self, term: int) -> int:
        """How many live texts hold ``term``."""
        return int(self._df[term])

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """The positions holding ``term`` (retired ones included) and its count in each."""
        parts = [block.postings(term) for block in self._blocks]
        parts = [p for p in parts if len(p[0])]
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return np.concatenate([d for d, _ in parts]), np.concatenate([t for _, t in parts])

    def tokens(self, positions: Sequence[int]) -> Tokens:
        """The texts at ``positions`` as ``Tokens`` (to store them again, as a compaction
        does), read from the index instead of tokenizing them again."""
        starts = [block.start for block in self._blocks]
        terms, counts = [], []
        lengths = np.zeros(len(positions), dtype=np.int64)
        for i, position in enumerate(positions):
            block = self._blocks[bisect.bisect_right(starts, position) - 1]
            row = position - block.start
            a, b = block.offsets[row], block.offsets[row + 1]
            terms.append(block.terms[a:b])
            counts.append(block.counts[a:b])
            lengths[i] = b - a
        offsets = np.zeros(len(positions) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return Tokens(list(self._vocab), offsets,
                      np.concatenate(terms).astype(np.int32) if terms else
                      np.zeros(0, dtype=np.int32),
                      np.concatenate(counts).astype(np.int32) if counts else
                      np.zeros(0, dtype=np.int32))

    def text_terms(self, position: int) -> list[tuple[int, int]]:
        """The terms of the text at ``position`` with their counts."""
        block = self._blocks[bisect.bisect_right([b.start for b in self._blocks], position) - 1]
        row = position - block.start
        a, b = block.offsets[row], block.offsets[row + 1]
        return list(zip(block.terms[a:b].tolist(), block.counts[a:b].tolist(), strict=True))

    @property
    def lengths(self) -> np.ndarray:
        """Each position's length in terms (a view)."""
        return self._lengths[: self.size]

    @property
    def average_length(self) -> float:
        """The live texts' mean length in terms."""
        return self._total_length / self.live if self.live else 0.0

    def _merge_tail(self) -> None:
        """Merge every block after the first into one (the first is usually the largest)."""
        tail = self._blocks[1:]
        offsets = np.concatenate([[0], np.cumsum(np.concatenate(
            [np.diff(block.offsets) for block in tail]))]).astype(np.int64)
        merged = _Block.build(tail[0].start, offsets,
                              np.concatenate([block.terms for block in tail]),
                              np.concatenate([block.counts for block in tail]), len(self._vocab))
        self._blocks = [self._blocks[0], merged]

    def _grow(self, size: int) -> None:
        if size <= len(self._lengths):
            return
        capacity = max(size, 2 * len(self._lengths), 64)
        lengths = np.zeros(capacity, dtype=np.float32)
        lengths[: len(self._lengths)] = self._lengths
        self._lengths = lengths
        alive = np.zeros(capacity, dtype=bool)
        alive[: len(self._alive)] = self._alive
        self._alive = alive
