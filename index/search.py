"""Hybrid search: dense and keyword candidates, fused, de-duplicated, highlighted, or none.

The abstain rule: a passage is shown only if its cosine similarity to the
question reaches ``search.min_score``; when no candidate does, the answer says
nothing relevant was found and shows nothing. Cosine is used (not the fused
score) because it is absolute: the fused score only orders candidates of one
question. The threshold is calibrated on labelled questions (docs/calibration.md).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

import faiss
import numpy as np

from .config import SearchSettings
from .embedder import Embedder
from .fusion import FEEDBACK_DEPTH, feedback_query, hybrid_rank
from .keyword import KeywordIndex
from .passages import Passage
from .questions import clean_question
from .store import IndexData, faiss_id, sentence_faiss_id, stored_ids

log = logging.getLogger(__name__)

GLOBAL_SCOPE = ""


@dataclass(frozen=True)
class Citation:
    """One result: a passage, its rank and score, and the sentence that best answers."""

    rank: int
    score: float
    similarity: float
    passage: Passage
    highlight: str
    highlight_start: int
    highlight_end: int

    def to_json(self) -> dict[str, object]:
        """The result object of the ``--json`` contract."""
        p = self.passage
        return {
            "rank": self.rank,
            "score": round(self.score, 4),
            "text": p.text,
            "highlight": self.highlight,
            "doc_id": p.doc_id,
            "title": p.title,
            "author": p.author,
            "kind": p.kind,
            "paragraph": p.paragraph,
            "url": p.url,
        }


@dataclass(frozen=True)
class Answer:
    """What a question gets: the cleaned question and its citations, or none."""

    question: str
    answered: bool
    results: tuple[Citation, ...]

    def to_json(self) -> dict[str, object]:
        """The ``--json`` contract: question, answered, results."""
        return {
            "question": self.question,
            "answered": self.answered,
            "results": [c.to_json() for c in self.results],
        }


class Searcher:
    """Answers questions from a loaded index; safe to call from one worker thread at a time.

    A passage's dense score mixes its own cosine with its best sentence's
    (``search.sentence_weight``): a question often matches one sentence of a
    paragraph far better than the paragraph as a whole. That best sentence is
    also the one highlighted.
    """

    def __init__(self, data: IndexData, embedder: Embedder, settings: SearchSettings) -> None:
        self.settings = settings
        self.embedder = embedder
        self.data = data
        self.passages: list[Passage] = data.ordered_passages()
        dim = data.manifest.dim
        self._position = {faiss_id(p.passage_id): i for i, p in enumerate(self.passages)}
        passage_ids = [faiss_id(p.passage_id) for p in self.passages]
        self._vectors = _in_order(data.vectors, passage_ids, dim)
        sentence_ids = [sentence_faiss_id(s) for p in self.passages for s in p.sentence_ids()]
        self._sentence_vectors = _in_order(data.sentence_vectors, sentence_ids, dim)
        owners = [i for i, p in enumerate(self.passages) for _ in p.sentences]
        self._sentence_owner = np.array(owners, dtype=np.int64)
        self._sentence_fid_row = {sid: row for row, sid in enumerate(sentence_ids)}
        starts = np.cumsum([0] + [len(p.sentences) for p in self.passages])
        self._sentence_rows = [range(starts[i], starts[i + 1]) for i in range(len(self.passages))]
        self._keyword = KeywordIndex([_keyword_text(p) for p in self.passages])
        self._scopes = np.array([p.scope for p in self.passages], dtype=object)

    def search(
        self,
        question: str,
        top_k: int | None = None,
        scopes: Collection[str] = (GLOBAL_SCOPE,),
    ) -> Answer:
        """Find the passages that answer ``question``.

        Args:
            question: the user's text; it is cleaned first.
            top_k: how many citations at most (``search.top_k`` when None).
            scopes: which scopes may be cited; the global corpus is "".

        Raises:
            QuestionError: the question is empty or too long.
        """
        text = clean_question(question)
        k = top_k or self.settings.top_k
        if not self.passages:
            return Answer(text, False, ())
        query = self.embedder.encode([text])[0]
        allowed = np.isin(self._scopes, list(scopes))
        keyword = np.where(allowed, self._keyword.scores(text), -np.inf)
        best_sentence: dict[int, int] = {}
        similarity: dict[int, float] = {}

        def dense_score(positions: np.ndarray) -> np.ndarray:
            # Relevance (the abstain rule) and the highlight come from the question
            # itself; the ranking may use the feedback query.
            scores, best = self._dense_scores(query, positions)
            best_sentence.update(zip(positions.tolist(), best, strict=True))
            similarity.update(zip(positions.tolist(), scores.tolist(), strict=True))
            top = positions[np.argsort(-scores)[:FEEDBACK_DEPTH]]
            moved = feedback_query(query, self._vectors[top], self.settings.feedback)
            return scores if moved is query else self._dense_scores(moved, positions)[0]

        ranked, fused, _ = hybrid_rank(
            self._dense_top(query, allowed),
            keyword,
            dense_score,
            self.settings.candidates,
            self.settings.dense_weight,
            self.settings.fusion,
        )
        citations: list[Citation] = []
        for i, position in enumerate(ranked.tolist()):
            if similarity[position] < self.settings.min_score:
                continue
            passage = self.passages[position]
            if any(_overlaps(passage, c.passage) for c in citations):
                continue
            a, b = passage.sentences[best_sentence[position]] if passage.sentences else (0, 0)
            citations.append(Citation(len(citations) + 1, float(fused[i]), similarity[position],
                                      passage, passage.text[a:b], a, b))
            if len(citations) == k:
                break
        return Answer(text, bool(citations), tuple(citations))

    def _dense_scores(
        self, query: np.ndarray, positions: np.ndarray
    ) -> tuple[np.ndarray, list[int]]:
        """Mixed passage/best-sentence cosine of each position, and which sentence was best."""
        beta = self.settings.sentence_weight
        own = self._vectors[positions] @ query
        scores = np.empty(len(positions), dtype=np.float64)
        best: list[int] = []
        for n, position in enumerate(positions.tolist()):
            rows = self._sentence_rows[position]
            if len(rows):
                sims = self._sentence_vectors[rows.start : rows.stop] @ query
                top = int(np.argmax(sims))
                scores[n] = (1.0 - beta) * own[n] + beta * float(sims[top])
            else:
                top = 0
                scores[n] = own[n]
            best.append(top)
        return scores, best

    def _dense_top(self, query: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """Positions of the passages nearest the question, or holding its nearest sentences."""
        n = min(self.settings.candidates, len(self.passages))
        if not allowed.all():
            # A scope filter: score the allowed rows directly (exact, and cheap at this size).
            scores = np.where(allowed, self._vectors @ query, -np.inf)
            sentence_scores = np.where(allowed[self._sentence_owner],
                                       self._sentence_vectors @ query, -np.inf)
            top = np.argsort(-scores)[:n]
            top_sentences = np.argsort(-sentence_scores)[:n]
            found = set(top[np.isfinite(scores[top])].tolist())
            found.update(self._sentence_owner[top_sentences[np.isfinite(
                sentence_scores[top_sentences])]].tolist())
            return np.array(sorted(found), dtype=np.int64)
        _, ids = self.data.vectors.search(query[None, :], n)
        found = {self._position[int(i)] for i in ids[0] if i >= 0}
        if self.data.sentence_vectors.ntotal:
            m = min(n, self.data.sentence_vectors.ntotal)
            _, sentence_hits = self.data.sentence_vectors.search(query[None, :], m)
            rows = [self._sentence_fid_row[int(i)] for i in sentence_hits[0] if i >= 0]
            found.update(self._sentence_owner[rows].tolist())
        return np.array(sorted(found), dtype=np.int64)


def _in_order(index: faiss.Index, ids: list[int], dim: int) -> np.ndarray:
    """The vectors of an ID-mapped index, rearranged into the order of ``ids``."""
    out = np.zeros((len(ids), dim), dtype=np.float32)
    if not ids:
        return out
    raw = index.index.reconstruct_n(0, index.ntotal)
    row_of = {int(fid): row for row, fid in enumerate(stored_ids(index).tolist())}
    for n, fid in enumerate(ids):
        out[n] = raw[row_of[fid]]
    return out


def _keyword_text(passage: Passage) -> str:
    """What BM25 reads: the title, who wrote it and whether it is a comment, then the text.

    Questions name their source ("what did a commenter say", "Cassiodorus"),
    so the citation label is searchable too.
    """
    return f"{passage.title}\n{passage.citation_label()}\n{passage.text}"


def _overlaps(a: Passage, b: Passage) -> bool:
    """Whether two passages say the same thing: same text, or overlapping spans of one file."""
    if a.text == b.text:
        return True
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end
