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
from .passages import Passage
from .questions import clean_question
from .store import IndexData

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
        live = self.data.live
        if not len(live):
            return Answer(text, False, ())
        query = self.embedder.encode([text])[0]
        allowed = live.allowed(scopes)
        if not allowed.any():
            return Answer(text, False, ())
        keyword = np.where(allowed, live.keyword.scores(text), -np.inf)
        vectors = live.matrix()
        best_sentence: dict[int, int] = {}
        similarity: dict[int, float] = {}

        def dense_score(positions: np.ndarray) -> np.ndarray:
            # Relevance (the abstain rule) and the highlight come from the question
            # itself; the ranking may use the feedback query.
            scores, best = self._dense_scores(query, positions)
            best_sentence.update(zip(positions.tolist(), best, strict=True))
            similarity.update(zip(positions.tolist(), scores.tolist(), strict=True))
            top = positions[np.argsort(-scores)[:FEEDBACK_DEPTH]]
            moved = feedback_query(query, vectors[top], self.settings.feedback)
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
            passage = live.passages[position]
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
        live = self.data.live
        own = live.matrix()[positions] @ query
        sentences = live.sentence_matrix()
        scores = np.empty(len(positions), dtype=np.float64)
        best: list[int] = []
        for n, position in enumerate(positions.tolist()):
            rows = live.sentence_rows(position)
            if len(rows):
                sims = sentences[rows.start : rows.stop] @ query
                top = int(np.argmax(sims))
                scores[n] = (1.0 - beta) * own[n] + beta * float(sims[top])
            else:
                top = 0
                scores[n] = own[n]
            best.append(top)
        return scores, best

    def _dense_top(self, query: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """Positions of the allowed passages nearest the question, or holding its nearest sentences.

        Dead rows and other scopes' rows are filtered inside FAISS (a bitmap
        selector), so the search is exact and still returns ``candidates`` hits.
        """
        live = self.data.live
        n = min(self.settings.candidates, int(allowed.sum()))
        found: set[int] = set()
        _, hits = live.vectors.search(query[None, :], n, params=_only(allowed))
        found.update(int(i) for i in hits[0] if i >= 0)
        owners = live.sentence_owner.values
        if len(owners):
            sentence_allowed = allowed[owners]
            m = min(n, int(sentence_allowed.sum()))
            if m:
                _, rows = live.sentence_vectors.search(query[None, :], m,
                                                       params=_only(sentence_allowed))
                found.update(owners[rows[0][rows[0] >= 0]].tolist())
        return np.array(sorted(found), dtype=np.int64)


def _only(mask: np.ndarray) -> faiss.SearchParameters:
    """FAISS search parameters that admit only the rows set in ``mask``."""
    bits = np.packbits(mask, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
    params = faiss.SearchParameters(sel=selector)
    # SWIG does not tie these lifetimes together: keep the selector and its buffer alive.
    params.keep_alive = (selector, bits)
    return params


def _overlaps(a: Passage, b: Passage) -> bool:
    """Whether two passages say the same thing: same text, or overlapping spans of one file."""
    if a.text == b.text:
        return True
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end
