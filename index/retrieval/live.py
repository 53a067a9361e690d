"""The index in memory: what a search reads, changed in place by adds and removes.

Rows are positions: passage ``i`` is row ``i`` of the passage vectors and of
the keyword index, and owns a contiguous run of sentence rows. Per passage, only
arrays and two dictionaries (id and document to position) are held; the
passages themselves are read from their segment when cited
(``index.retrieval.passage_table``). An add appends
rows; a remove only marks them dead (they are skipped by every search). So an
add or remove costs time in proportion to the article, however large the
corpus. Dead rows are dropped when the index is next compacted (on start-up,
see ``indexer.update_index``).

Not thread-safe by itself: the engine holds a lock so a search never sees a
half-applied change.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from index.articles.passages import Passage
from index.config import IndexSettings
from index.retrieval.ann import FlatIndex, VectorIndex, grow
from index.retrieval.keyword import KeywordIndex, StoredTerms, Tokens
from index.retrieval.names import words_of
from index.retrieval.passage_table import PassageColumns, PassageTable, StoredPassages
from index.retrieval.sentence_rows import SentenceRows


@dataclass(frozen=True)
class Origin:
    """Where a passage is stored on disk: its segment and row there."""

    segment: str
    row: int


class Column:
    """A numpy array that grows by appends in amortised constant time."""

    def __init__(self, dtype: type | np.dtype) -> None:
        self._data = np.zeros(16, dtype=dtype)
        self.size = 0

    def extend(self, values: Sequence[object] | np.ndarray) -> None:
        """Append values at the end."""
        end = self.size + len(values)
        if end > len(self._data):
            grown = np.zeros(max(end, 2 * len(self._data)), dtype=self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : end] = values
        self.size = end

    @property
    def values(self) -> np.ndarray:
        """A view of the filled part (writes go through to the column)."""
        return self._data[: self.size]


def keyword_text(passage: Passage) -> str:
    """What BM25 reads: the title, who wrote it and whether it is a comment, then the text.

    Questions name their source ("what did a commenter say", "Cassiodorus"),
    so the citation label is searchable too.
    """
    return f"{passage.title}\n{passage.citation_label()}\n{passage.text}"


def keyword_tokens(passages: Sequence[Passage]) -> Tokens:
    """What the keyword index reads of ``passages``, tokenized (stored with a segment)."""
    return KeywordIndex().tokenize([keyword_text(p) for p in passages])


class LiveIndex:
    """Passages, their vectors, sentence vectors and keyword index, by position."""

    def __init__(self, dim: int, approximate_from: int = IndexSettings.approximate_from) -> None:
        """Args:
            dim: the vectors' dimension.
            approximate_from: rows from which each vector index is approximate
                (``index.retrieval.ann.grow``; 0: never).
        """
        self.dim = dim
        self.approximate_from = approximate_from
        self.vectors: VectorIndex = FlatIndex(dim)
        self.sentence_vectors = SentenceRows(dim)
        self.keyword = KeywordIndex()
        self.passages = PassageTable()
        self.alive = Column(bool)
        self.bio = Column(bool)
        """Whether each passage is an author bio (``index.retrieval.parts``)."""
        self.scope_codes = Column(np.int32)
        self.sentence_start = Column(np.int64)
        self.sentence_count = Column(np.int32)
        self.origin_segment = Column(np.int32)
        self.origin_row = Column(np.int64)
        self.words_added: list[set[str]] = []
        """The words of each batch of passages added (``names.words_of``), for the name check."""
        self.position: dict[str, int] = {}
        self.by_doc: dict[str, list[int]] = {}
        self._scope_code: dict[str, int] = {}
        self._segments: list[str] = []

    def __len__(self) -> int:
        """The number of live passages."""
        return len(self.position)

    def add(
        self,
        passages: Sequence[Passage],
        vectors: np.ndarray,
        sentence_vectors: np.ndarray,
        origins: Sequence[Origin],
        tokens: Tokens | None = None,
        words: set[str] | None = None,
    ) -> None:
        """Append passages with their vectors (sentence vectors in passage order) and,
        if a segment stored them, their keyword tokens (``keyword_tokens``) and words
        (``names.words_of``)."""
        if not passages:
            return
        first_sentence = self.sentence_vectors.size()
        # Past the threshold the flat index is swapped for an approximate one, once.
        self.vectors = grow(self.vectors, vectors, self.approximate_from)
        self.sentence_vectors.add(sentence_vectors)
        segments = np.array([self._segment_code(o.segment) for o in origins], dtype=np.int32)
        self._append(passages, PassageColumns.of(passages), first_sentence, tokens, words,
                     segments, np.array([o.row for o in origins], dtype=np.int64))

    def adopt(
        self,
        passages: StoredPassages,
        vectors: VectorIndex,
        sentence_vectors: SentenceRows,
        segment: str,
        terms: StoredTerms,
        words: set[str] | None = None,
    ) -> None:
        """Take a stored segment's own indexes and files as this empty index's (no copy,
        no training, no sort, no passage read).

        ``vectors`` and ``sentence_vectors`` hold exactly the rows of ``passages``
        (each passage's sentences in a run), rows ``0..n-1`` of ``segment``; dead ones
        are removed afterwards.
        """
        if len(self.passages) or self.vectors.size() or self.sentence_vectors.size():
            raise ValueError("only an empty live index can adopt a segment's indexes")
        # grow() with no rows: the kind this live index wants at this size.
        self.vectors = grow(vectors, np.zeros((0, self.dim), np.float32), self.approximate_from)
        self.sentence_vectors = sentence_vectors
        n = len(passages)
        self._append(passages, passages.columns, 0, terms, words,
                     np.full(n, self._segment_code(segment), dtype=np.int32),
                     np.arange(n, dtype=np.int64))

    def _append(self, passages: Sequence[Passage], columns: PassageColumns,
                first_sentence: int, tokens: Tokens | StoredTerms | None,
                words: set[str] | None,
                segments: np.ndarray, rows: np.ndarray) -> None:
        """Record passages whose vectors were just placed at the next rows."""
        if not len(passages):
            return
        start = len(self.passages)
        counts = columns.sentences
        self.sentence_start.extend(first_sentence + np.cumsum(counts) - counts)
        self.sentence_count.extend(counts)
        if isinstance(tokens, StoredTerms) and not self.keyword.size:
            self.keyword.adopt(tokens)
        elif isinstance(tokens, StoredTerms):
            self.keyword.add_tokens(tokens.tokens())
        else:
            self.keyword.add_tokens(tokens if tokens is not None else self.keyword.tokenize(
                [keyword_text(p) for p in passages]))
        self.words_added.append(words if words is not None else words_of(passages))
        self.alive.extend(np.ones(len(passages), dtype=bool))
        self.bio.extend(columns.bio)
        code = self._code
        self.scope_codes.extend([code(scope) for scope in columns.scopes])
        self.origin_segment.extend(segments)
        self.origin_row.extend(rows)
        self.position.update(zip(columns.ids, range(start, start + len(passages)), strict=True))
        by_doc = self.by_doc
        for position, doc_id in enumerate(columns.doc_ids, start=start):
            if doc_id in by_doc:
                by_doc[doc_id].append(position)
            else:
                by_doc[doc_id] = [position]
        self.passages.extend(passages)

    def remove(self, passage_ids: Collection[str]) -> None:
        """Mark passages dead; they are no longer found."""
        positions = [self.position.pop(pid) for pid in passage_ids if pid in self.position]
        if not positions:
            return
        self.alive.values[positions] = False
        self.vectors.remove(positions)
        self.keyword.retire(positions)
        for position in positions:
            doc_id = self.passages[position].doc_id
            rows = self.by_doc[doc_id]
            rows.remove(position)
            if not rows:
                del self.by_doc[doc_id]

    def doc_passage_ids(self, doc_id: str) -> list[str]:
        """The live passage ids of one document."""
        return [self.passages[i].passage_id for i in self.by_doc.get(doc_id, [])]

    def live_passages(self) -> Iterator[tuple[int, Passage]]:
        """Live positions and passages, in position order."""
        alive = self.alive.values
        # One pass over the table (a stored segment is read in order, not row by row).
        for position, passage in enumerate(self.passages):
            if alive[position]:
                yield position, passage

    def allowed(self, scopes: Collection[str]) -> np.ndarray:
        """A mask of the live positions whose scope is one of ``scopes``."""
        codes = {self._scope_code[s] for s in scopes if s in self._scope_code}
        # A comparison per scope (a question names one or two): np.isin sorted a
        # million codes, 4 ms of a question at a million passages.
        mask = np.zeros(len(self.scope_codes.values), dtype=bool)
        for code in codes:
            mask |= self.scope_codes.values == code
        return mask & self.alive.values

    def origin(self, position: int) -> Origin:
        """Where the passage at ``position`` is stored."""
        return Origin(self._segments[int(self.origin_segment.values[position])],
                      int(self.origin_row.values[position]))

    def positions_at(self, segment: str, rows: Collection[int]) -> list[int]:
        """The live positions of stored rows of one segment (another process deleted them)."""
        if segment not in self._segments or not rows:
            return []
        code = self._segments.index(segment)
        mask = ((self.origin_segment.values == code) & self.alive.values
                & np.isin(self.origin_row.values, np.fromiter(rows, dtype=np.int64)))
        return np.flatnonzero(mask).tolist()

    def _code(self, scope: str) -> int:
        return self._scope_code.setdefault(scope, len(self._scope_code))

    def _segment_code(self, segment: str) -> int:
        if segment not in self._segments:
            self._segments.append(segment)
        return self._segments.index(segment)

    def sentence_rows(self, position: int) -> range:
        """The sentence rows of one passage."""
        first = int(self.sentence_start.values[position])
        return range(first, first + int(self.sentence_count.values[position]))

