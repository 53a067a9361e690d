"""Hybrid search: dense and keyword candidates, fused, de-duplicated, highlighted, or none.

The abstain rule: a passage is shown only if its cosine similarity to the
question reaches ``search.min_score``; when no candidate does, the answer says
nothing relevant was found and shows nothing. Cosine is used (not the fused
score) because it is absolute: the fused score only orders candidates of one
question. The threshold is calibrated on labelled questions (docs/calibration.md).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from index.articles.passages import Passage
from index.config import SearchSettings
from index.errors import QuestionError
from index.retrieval.dense import mix, run_maxima
from index.retrieval.embedder import Encoder
from index.retrieval.fusion import FEEDBACK_DEPTH, feedback_query, hybrid_rank
from index.retrieval.multilingual import LanguageGuesser, MultilingualVectors
from index.retrieval.names import NAME_PASSAGES, TRANSLATED, NameCheck, name_phrases
from index.retrieval.parts import PartFilter
from index.retrieval.questions import clean_question
from index.retrieval.store import IndexData

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
    unknown_names: tuple[str, ...] = ()
    """Names in the question that no article mentions (why it was declined, if so)."""

    def to_json(self) -> dict[str, object]:
        """The ``--json`` contract: question, answered, results."""
        return {
            "question": self.question,
            "answered": self.answered,
            "results": [c.to_json() for c in self.results],
        }


@dataclass(frozen=True)
class Query:
    """One question to answer: its text, how many citations at most, which scopes may be cited."""

    question: str
    top_k: int | None = None
    scopes: tuple[str, ...] = (GLOBAL_SCOPE,)


class Searcher:
    """Answers questions from a loaded index; safe to call from one worker thread at a time.

    A passage's dense score mixes its own cosine with its best sentence's
    (``search.sentence_weight``): a question often matches one sentence of a
    paragraph far better than the paragraph as a whole. That best sentence is
    also the one highlighted.
    """

    def __init__(self, data: IndexData, embedder: Encoder, settings: SearchSettings,
                 multilingual: MultilingualVectors | None = None,
                 languages: LanguageGuesser | None = None) -> None:
        """Args:
            data: the loaded index.
            embedder: the English model (all-MiniLM-L6-v2 by default).
            settings: ranking and abstain settings.
            multilingual: the multilingual leg's passage vectors, kept in step with
                ``data`` by the engine; None answers every question with the English legs.
            languages: tells which questions go to the multilingual leg.
        """
        self.settings = settings
        self.embedder = embedder
        self.data = data
        self.parts = PartFilter()
        self.names = NameCheck()
        # Read the corpus's words now (at start, in the caller's worker thread),
        # not on the first question.
        self.names.catch_up(data.live)
        self.multilingual = multilingual if languages is not None else None
        self.languages = languages

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
        (result,) = self.search_many([Query(question, top_k, tuple(scopes))])
        if isinstance(result, QuestionError):
            raise result
        return result

    def search_many(self, queries: Sequence[Query]) -> list[Answer | QuestionError]:
        """Answer several questions with one model call, each as ``search`` would alone.

        A model call has a large fixed cost, so questions asked at about the same
        moment are far cheaper embedded together (see ``index.retrieval.batching``). The
        citations are those of ``search``; a score may differ in its last float32
        bit, or in its third digit with bfloat16 products (a batch pads questions
        to a common length). A question that cannot be
        asked gets its ``QuestionError`` in its place; the others are answered.
        """
        texts: list[str | QuestionError] = []
        for query in queries:
            try:
                texts.append(clean_question(query.question))
            except QuestionError as exc:
                texts.append(exc)
        live = self.data.live
        vectors: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(t for t in texts if isinstance(t, str)))
        foreign = self._foreign(unique)
        english = [t for t in unique if t not in foreign]
        others = [t for t in unique if t in foreign]
        if len(live) and english:
            # One model call, each distinct question once (a burst often repeats one);
            # inside it, questions sorted by length go through in model.batch_size
            # slices, so one long question does not pad all the others.
            vectors = dict(zip(english, self.embedder.encode(english), strict=True))
        if len(live) and others and self.multilingual is not None:
            vectors.update(zip(others, self.multilingual.model.encode(others), strict=True))
        results: list[Answer | QuestionError] = []
        for query, text in zip(queries, texts, strict=True):
            if isinstance(text, QuestionError):
                results.append(text)
            elif text not in vectors:
                results.append(Answer(text, False, ()))
            elif self.settings.unknown_names and (missing := self._unknown_names(
                    text, foreign.get(text, "en"), vectors[text], query.scopes)):
                results.append(Answer(text, False, (), unknown_names=tuple(missing)))
            elif text in foreign:
                results.append(self._rank_foreign(text, vectors[text],
                                                  query.top_k or self.settings.top_k,
                                                  query.scopes))
            else:
                results.append(self._rank(text, vectors[text], query.top_k or self.settings.top_k,
                                          query.scopes))
        return results

    def _foreign(self, texts: Sequence[str]) -> dict[str, str]:
        """The questions the multilingual leg answers (those confidently not in English),
        with their language."""
        if self.multilingual is None or self.languages is None or not self.settings.multilingual:
            return {}
        guessed = {t: self.languages.language(t) for t in texts}
        return {t: code for t, code in guessed.items() if code != "en"}

    def _unknown_names(self, text: str, language: str, query: np.ndarray,
                       scopes: Collection[str]) -> list[str]:
        """The names of a question that the corpus never mentions (``index.retrieval.names``).

        A question in another language keeps only the names that translate none
        of the names of the passages nearest it: "Naciones Unidas" is the
        articles' "UN", "Países Bajos" is nothing they mention.
        """
        missing = self.names.unknown(self.data.live, text, language)
        if missing and language != "en" and self.multilingual is not None:
            missing = self._untranslated(text, missing, query, scopes)
        return missing

    def _untranslated(self, text: str, names: list[str], query: np.ndarray,
                      scopes: Collection[str]) -> list[str]:
        """The ``names`` that no name of the ``NAME_PASSAGES`` allowed passages nearest the
        question (by the multilingual leg) translates, at a cosine of ``TRANSLATED``.

        Only the nearest passages are looked in: a name the answer would have to
        use is in them, and a question costs one model call over a few dozen
        short phrases, at any corpus size.
        """
        assert self.multilingual is not None
        live = self.data.live
        nearest = self._foreign_nearest(text, query, NAME_PASSAGES, scopes)
        if nearest is None:
            return names
        phrases = sorted(set().union(*(name_phrases(live.passages[int(h)].text)
                                       for h in nearest[0])))
        if not phrases:
            return names
        vectors = self.multilingual.model.encode(names + phrases)
        best = (vectors[: len(names)] @ vectors[len(names):].T).max(axis=1)
        return [name for name, score in zip(names, best.tolist(), strict=True)
                if score < TRANSLATED]

    def _foreign_nearest(self, text: str, query: np.ndarray, k: int,
                         scopes: Collection[str]) -> tuple[np.ndarray, np.ndarray] | None:
        """The ``k`` allowed passages nearest a question by the multilingual leg (positions),
        and which positions were allowed; None when it has none to offer."""
        assert self.multilingual is not None
        live = self.data.live
        rows = self.multilingual.rows(live)
        # Passages added a moment ago get their multilingual vector when the change
        # finishes (Engine._refresh); until then only the English legs know them.
        size = rows.size() if rows is not None else 0
        allowed = (live.allowed(scopes) & self.parts.admitted(live, text))[:size]
        if rows is None or not allowed.any():
            return None
        _, hits = rows.search(query[None, :], min(k, int(allowed.sum())), allowed)
        return hits[0][hits[0] >= 0], allowed

    def _rank_foreign(self, text: str, query: np.ndarray, k: int,
                      scopes: Collection[str]) -> Answer:
        """Citations for a question in another language, by the multilingual leg alone.

        BM25 and the English model would only find the passages that share the
        question's language (a reader's Spanish bio), so neither votes here.
        The passage's best sentence, highlighted, is found by the same model.
        """
        assert self.multilingual is not None
        live = self.data.live
        nearest = self._foreign_nearest(text, query, self.settings.candidates, scopes)
        if nearest is None:
            return Answer(text, False, ())
        hits, allowed = nearest
        rows = self.multilingual.rows(live)
        assert rows is not None
        # The nearest allowed rows, and every bio the part filter left in: a bio left
        # in is one the question asks about (it names the author, or asks who
        # wrote): it answers, whatever its cosine.
        positions = np.union1d(hits, np.flatnonzero(allowed & live.bio.values[: len(allowed)]))
        similarity = rows.vectors(positions) @ query
        bio = live.bio.values[positions]
        order = np.lexsort((-similarity, ~bio))
        chosen: list[tuple[int, float]] = []
        for i in order.tolist():
            score = float(similarity[i])
            if score < self.settings.multilingual_min_score and not bio[i]:
                break
            passage = live.passages[int(positions[i])]
            if any(_overlaps(passage, live.passages[c]) for c, _ in chosen):
                continue
            chosen.append((int(positions[i]), score))
            if len(chosen) == k:
                break
        spans = [(c, span) for c, _ in chosen for span in live.passages[c].sentences]
        best: dict[int, tuple[float, tuple[int, int]]] = {}
        if spans:
            sentence_vectors = self.multilingual.model.encode(
                [live.passages[c].text[a:b] for c, (a, b) in spans])
            for (c, span), score in zip(spans, (sentence_vectors @ query).tolist(), strict=True):
                if c not in best or score > best[c][0]:
                    best[c] = (score, span)
        citations = []
        for rank, (position, score) in enumerate(chosen, start=1):
            passage = live.passages[position]
            a, b = best[position][1] if position in best else (0, 0)
            citations.append(Citation(rank, score, score, passage, passage.text[a:b], a, b))
        return Answer(text, bool(citations), tuple(citations))

    def _rank(self, text: str, query: np.ndarray, k: int, scopes: Collection[str]) -> Answer:
        """The citations for one cleaned question, given its vector."""
        live = self.data.live
        # An author bio is a candidate only for a question about its author (index.retrieval.parts).
        allowed = live.allowed(scopes) & self.parts.admitted(live, text)
        if not allowed.any():
            return Answer(text, False, ())
        keyword = np.where(allowed, live.keyword.scores(text), -np.inf)
        best_sentence: dict[int, int] = {}
        similarity: dict[int, float] = {}

        def dense_score(positions: np.ndarray) -> np.ndarray:
            # Relevance (the abstain rule) and the highlight come from the question
            # itself; the ranking may use the feedback query.
            rows = self._candidate_rows(positions)
            scores, best = self._dense_scores(query, positions, rows)
            best_sentence.update(zip(positions.tolist(), best, strict=True))
            similarity.update(zip(positions.tolist(), scores.tolist(), strict=True))
            order = np.argsort(-scores)[:FEEDBACK_DEPTH]
            moved = feedback_query(query, rows[0][order], self.settings.feedback)
            return scores if moved is query else self._dense_scores(moved, positions, rows)[0]

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

    def _candidate_rows(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The positions' passage vectors and their sentences' vectors (each passage's
        run in order), read once for both the question and its feedback query."""
        live = self.data.live
        counts = live.sentence_count.values[positions].astype(np.int64)
        has = counts > 0
        return (live.vectors.vectors(positions),
                live.sentence_vectors.runs(live.sentence_start.values[positions[has]],
                                           counts[has]))

    def _dense_scores(
        self, query: np.ndarray, positions: np.ndarray,
        rows: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, list[int]]:
        """Mixed passage/best-sentence cosine of each position, and which sentence was best
        (``rows``: the positions' ``_candidate_rows``, read here when not given).

        Vectorised over the positions' sentence runs (a Python loop per passage was a
        fifth of a batch's time). The formula is the per-passage one, float32 products
        and all; only BLAS may sum a dot product in another order for another matrix
        shape, which moves a score by at most a float32 rounding step.
        """
        beta = self.settings.sentence_weight
        live = self.data.live
        passage_vectors, sentence_vectors = rows if rows is not None else \
            self._candidate_rows(positions)
        own = passage_vectors @ query
        scores = own.astype(np.float64)
        best = np.zeros(len(positions), dtype=np.int64)
        counts = live.sentence_count.values[positions].astype(np.int64)
        has = counts > 0
        if has.any():
            runs = counts[has]
            ends = np.cumsum(runs)
            firsts = ends - runs
            sims = sentence_vectors @ query
            top = run_maxima(sims, firsts)
            # The first row reaching its run's maximum, as argmax picks it.
            hits = np.where(sims == np.repeat(top, runs), np.arange(len(sims)), len(sims))
            best[has] = np.minimum.reduceat(hits, firsts) - firsts
            scores[has] = mix(own[has], top, beta)
        return scores, best.tolist()

    def _dense_top(self, query: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """Positions of the allowed passages nearest the question.

        Dead rows and other scopes' rows are filtered inside the vector index (a
        bitmap selector), so the search still returns ``candidates`` hits. There is
        no search over sentences: a passage whose one sentence matches is found by
        its own vector or by BM25, and its sentences then score it
        (``_dense_scores``). Dropping the sentence search moved fused nDCG@10 by
        +0.0006 (Cranfield), +0.0010 (CISI), -0.0014 (SciFact test) and -0.0006
        (SciFact train) (``bench/candidates.py``), left every bundled-corpus figure
        of ``bench/abstain_rates.py`` unchanged, and saves an index of every
        sentence (three or four rows per passage).
        """
        live = self.data.live
        n = min(self.settings.candidates, int(allowed.sum()))
        _, hits = live.vectors.search(query[None, :], n, allowed)
        return np.unique(hits[0][hits[0] >= 0]).astype(np.int64)


def _overlaps(a: Passage, b: Passage) -> bool:
    """Whether two passages say the same thing: same text, or overlapping spans of one file."""
    if a.text == b.text:
        return True
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end
