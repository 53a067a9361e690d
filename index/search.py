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
from .fusion import hybrid_rank
from .keyword import KeywordIndex
from .passages import Passage
from .questions import clean_question
from .sentences import sentence_spans
from .store import IndexData, faiss_id

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
    """Answers questions from a loaded index; safe to call from one worker thread at a time."""

    def __init__(self, data: IndexData, embedder: Embedder, settings: SearchSettings) -> None:
        self.settings = settings
        self.embedder = embedder
        self.data = data
        self.passages: list[Passage] = data.ordered_passages()
        by_id = {faiss_id(p.passage_id): i for i, p in enumerate(self.passages)}
        stored = faiss.vector_to_array(data.vectors.id_map) if data.vectors.ntotal else []
        # Vectors in passage order, for exact dense scores of keyword-only candidates.
        raw = (
            data.vectors.index.reconstruct_n(0, data.vectors.ntotal)
            if data.vectors.ntotal
            else np.zeros((0, data.manifest.dim), dtype=np.float32)
        )
        self._vectors = np.zeros((len(self.passages), data.manifest.dim), dtype=np.float32)
        for row, ident in enumerate(stored):
            self._vectors[by_id[int(ident)]] = raw[row]
        self._by_faiss_id = by_id
        self._keyword = KeywordIndex([p.embed_text(True) for p in self.passages])
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
        ranked, fused, dense = hybrid_rank(
            self._dense_top(query, allowed),
            keyword,
            lambda positions: self._vectors[positions] @ query,
            self.settings.candidates,
            self.settings.dense_weight,
            self.settings.fusion,
        )
        chosen: list[tuple[int, float, float]] = []
        for i, position in enumerate(ranked.tolist()):
            if dense[i] < self.settings.min_score:
                continue
            if any(_overlaps(self.passages[position], self.passages[c]) for c, _, _ in chosen):
                continue
            chosen.append((position, float(fused[i]), float(dense[i])))
            if len(chosen) == k:
                break
        if not chosen:
            return Answer(text, False, ())
        return Answer(text, True, tuple(self._cite(query, chosen)))

    def _dense_top(self, query: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """Positions of the passages nearest the question, within the allowed scopes."""
        n = min(self.settings.candidates, len(self.passages))
        if allowed.all():
            _, ids = self.data.vectors.search(query[None, :], n)
            return np.array([self._by_faiss_id[int(i)] for i in ids[0] if i >= 0], dtype=np.int64)
        # A scope filter: score the allowed rows directly (exact, and cheap at this size).
        scores = np.where(allowed, self._vectors @ query, -np.inf)
        top = np.argsort(-scores)[:n]
        return top[np.isfinite(scores[top])]

    def _cite(self, query: np.ndarray, chosen: list[tuple[int, float, float]]) -> list[Citation]:
        """Build citations, marking each passage's sentence closest to the question."""
        spans = [sentence_spans(self.passages[pos].text) for pos, _, _ in chosen]
        best: list[tuple[int, int]] = [s[0] if s else (0, 0) for s in spans]
        if self.settings.highlight:
            flat = [
                (n, span)
                for n, (pos, _, _) in enumerate(chosen)
                for span in spans[n]
                if len(spans[n]) > 1
            ]
            if flat:
                texts = [self.passages[chosen[n][0]].text[a:b] for n, (a, b) in flat]
                sims = self.embedder.encode(texts) @ query
                top: dict[int, float] = {}
                for (n, span), sim in zip(flat, sims, strict=True):
                    if sim > top.get(n, -2.0):
                        top[n] = float(sim)
                        best[n] = span
        citations = []
        for rank, ((pos, score, sim), (a, b)) in enumerate(zip(chosen, best, strict=True), 1):
            passage = self.passages[pos]
            citations.append(Citation(rank, score, sim, passage, passage.text[a:b], a, b))
        return citations


def _overlaps(a: Passage, b: Passage) -> bool:
    """Whether two passages say the same thing: same text, or overlapping spans of one file."""
    if a.text == b.text:
        return True
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end
