"""The one object the command line and the bot hold: model, index and searcher together.

``Engine.open`` does the slow start-up work (load the model, bring the index up
to date) once; afterwards ``ask`` answers in milliseconds. All of it is
blocking: async callers run it in a worker thread. A lock keeps a search from
seeing half of an add or remove (only the final in-memory step of a change
holds it, so searches wait milliseconds, not for the embedding).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from index.articles.documents import Document
from index.articles.extract import Article
from index.articles.library import Library
from index.config import Settings
from index.errors import CitebotError, QuestionError
from index.retrieval.embedder import EmbeddingCache, Encoder, Progress, load_encoder
from index.retrieval.indexer import IndexReport, update_index
from index.retrieval.multilingual import LanguageGuesser, MultilingualVectors, load_multilingual
from index.retrieval.search import GLOBAL_SCOPE, Answer, Query, Searcher
from index.retrieval.store import IndexStore

log = logging.getLogger(__name__)


@dataclass
class Engine:
    """A ready-to-query citebot: settings, model, embedding cache, index and searcher."""

    settings: Settings
    embedder: Encoder
    cache: EmbeddingCache
    store: IndexStore
    searcher: Searcher
    report: IndexReport
    library: Library
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held by searches and by the in-memory step of a change."""
    changing: threading.Lock = field(default_factory=threading.Lock)
    """Held for a whole add, remove or refresh: changes happen one at a time."""
    multilingual: MultilingualVectors | None = None
    """The multilingual leg's passage vectors, or None when it is off or cannot run."""
    languages: LanguageGuesser | None = None

    @classmethod
    def open(
        cls,
        settings: Settings,
        progress: Progress | None = None,
        embedder: Encoder | None = None,
    ) -> Engine:
        """Load the model and bring the index up to date with the corpus.

        Args:
            settings: the validated settings.
            progress: called while passages are embedded.
            embedder: an already loaded model to reuse (tests share one).

        Raises:
            CitebotError: the data directory is unusable, a corpus file is
                malformed, or the model cannot be loaded.
        """
        data_dir = prepare_data_dir(settings.data_dir)
        library = Library(settings)
        docs = library.documents()
        model = embedder or load_encoder(settings.model)
        cache = EmbeddingCache(data_dir / "embeddings.sqlite")
        store = IndexStore(data_dir, settings.index.approximate_from)
        data, report = update_index(store, docs, model, cache, settings, progress)
        second = load_multilingual(settings.search.multilingual)
        multilingual = (MultilingualVectors(second, cache, data_dir / "multilingual",
                                            settings.index.approximate_from)
                        if second is not None else None)
        languages = LanguageGuesser() if second is not None else None
        if multilingual is not None and multilingual.sync(data.live, settings.index.embed_title):
            # Saved so that the next start adopts the rows instead of rebuilding them.
            multilingual.save(data.live)
        searcher = Searcher(data, model, settings.search, multilingual, languages)
        return cls(settings, model, cache, store, searcher, report, library,
                   multilingual=multilingual, languages=languages)

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        scopes: Collection[str] = (GLOBAL_SCOPE,),
    ) -> Answer:
        """Answer one question (see ``Searcher.search``)."""
        with self.lock:
            return self.searcher.search(question, top_k, scopes)

    def ask_many(self, queries: Sequence[Query]) -> list[Answer | QuestionError]:
        """Answer several questions with one model call (see ``Searcher.search_many``).

        Blocking, like ``ask``: the bot reaches it through ``index.retrieval.batching.Batcher``,
        which runs it in a worker thread for the questions that arrived together.
        """
        with self.lock:
            return self.searcher.search_many(queries)

    @property
    def index_version(self) -> str:
        """A short name of the index state (its corpus fingerprint), for the log."""
        return self.searcher.data.manifest.corpus_fingerprint[:12]

    def refresh(self, progress: Progress | None = None) -> IndexReport:
        """Bring the index in line with the corpus files (after an add or remove)."""
        with self.changing:
            return self._refresh(self.library.documents(), progress)

    def _refresh(self, docs: list[Document], progress: Progress | None = None) -> IndexReport:
        data, report = update_index(
            self.store, docs, self.embedder, self.cache, self.settings,
            progress, current=self.searcher.data, lock=self.lock,
        )
        if self.multilingual is not None:
            # Embedding the new passages needs no lock; adding their rows takes it.
            self.multilingual.sync(data.live, self.settings.index.embed_title, lock=self.lock)
            if data is not self.searcher.data:  # a compaction: every row moved
                self.multilingual.save(data.live)
        if data is not self.searcher.data:
            with self.lock:
                self.searcher = Searcher(data, self.embedder, self.settings.search,
                                         self.multilingual, self.languages)
        self.report = report
        return report

    def add(
        self, article: Article, scope: str = "", force: bool = False,
        progress: Progress | None = None,
    ) -> tuple[Document, IndexReport]:
        """Store an article and make it citable at once (only its passages are embedded).

        Raises:
            LibraryError: the article is empty, untitled or a duplicate.
        """
        with self.changing:
            doc = self.library.add(article, scope, force)
            return doc, self._refresh(self.library.snapshot(), progress)

    def remove(self, doc_id: str, scope: str | None = None) -> tuple[Document, IndexReport]:
        """Delete an added article from the corpus and the index.

        Raises:
            LibraryError: no such article in this scope, or a bundled one.
        """
        with self.changing:
            doc = self.library.remove(doc_id, scope)
            return doc, self._refresh(self.library.snapshot())

    async def add_async(
        self, article: Article, scope: str = "", force: bool = False,
        progress: Progress | None = None,
    ) -> tuple[Document, IndexReport]:
        """``add`` in a worker thread, so the caller's event loop keeps running.

        ``progress`` is called from the worker thread; a caller that touches
        loop objects from it should hop back with ``loop.call_soon_threadsafe``.
        Concurrent adds and removes wait for each other; searches go on.
        """
        return await asyncio.to_thread(self.add, article, scope, force, progress)

    async def remove_async(
        self, doc_id: str, scope: str | None = None
    ) -> tuple[Document, IndexReport]:
        """``remove`` in a worker thread."""
        return await asyncio.to_thread(self.remove, doc_id, scope)

    def close(self) -> None:
        """Release the embedding cache."""
        self.cache.close()


def prepare_data_dir(path: Path) -> Path:
    """Create the data directory if needed and check it can be written.

    Raises:
        CitebotError: the path is not a directory or is not writable.
    """
    if path.exists() and not path.is_dir():
        raise CitebotError(
            f"the data directory {path} is a file, not a folder; point CITEBOT_DATA_DIR "
            "or index.data_dir at a folder"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise CitebotError(
            f"cannot write to the data directory {path} ({exc.strerror or exc}); "
            "set CITEBOT_DATA_DIR to a writable folder"
        ) from None
    return path
