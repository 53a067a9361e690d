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
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from index.articles.documents import Document
from index.articles.extract import Article
from index.articles.library import Library
from index.config import Settings
from index.errors import CitebotError, IndexCorruptError, QuestionError
from index.retrieval.embedder import EmbeddingCache, Encoder, Progress, load_encoder
from index.retrieval.indexer import IndexReport, follow_index, update_index
from index.retrieval.multilingual import LanguageGuesser, MultilingualVectors, load_multilingual
from index.retrieval.search import GLOBAL_SCOPE, Answer, Query, Searcher
from index.retrieval.store import IndexData, IndexStore

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
    on_change: Callable[[], None] | None = None
    """Called (in the thread that made it) once this process published a change, so that
    the other processes serving the data directory hear of it at once (the bot announces
    it through PostgreSQL's NOTIFY: ``index.retrieval.following``)."""
    published: str = ""
    """The name of the index manifest this process holds (``IndexStore.published``): when
    the published one differs, another process changed the articles (``follow``)."""

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
        second = load_multilingual(settings.search.multilingual)
        multilingual = (MultilingualVectors(second, cache, data_dir / "multilingual",
                                            settings.index.approximate_from)
                        if second is not None else None)
        languages = LanguageGuesser() if second is not None else None
        # Another process serving from this folder may be changing the index: one at a time.
        with store.writing():
            data, report = update_index(store, docs, model, cache, settings, progress)
            if (multilingual is not None
                    and multilingual.sync(data.live, settings.index.embed_title)):
                # Saved so that the next start adopts the rows instead of rebuilding them.
                multilingual.save(data.live)
            published = store.published()
        searcher = Searcher(data, model, settings.search, multilingual, languages)
        return cls(settings, model, cache, store, searcher, report, library,
                   multilingual=multilingual, languages=languages, published=published)

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
        with self._changing():
            return self._refresh(self.library.documents(), progress)

    def behind(self) -> bool:
        """Whether another process published a change this one has not taken in (a file
        read: cheap enough to ask every second)."""
        return self.store.published() != self.published

    def follow(self) -> IndexReport | None:
        """Take in the articles another process serving from this data directory added or
        removed, without writing anything; None when there was nothing to take in.

        Raises:
            CitebotError: the published index cannot be read (this one stays in use).
        """
        with self.changing, self.store.writing():
            return self._follow()

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """One change at a time, in this process (``changing``) and among the processes
        sharing the data directory (``IndexStore.writing``), each starting from what
        the others published."""
        with self.changing:
            with self.store.writing():
                try:
                    self._follow()
                except IndexCorruptError as exc:
                    # This change is written from the articles folder, which holds every
                    # process's articles; its manifest replaces the unreadable one.
                    log.warning("cannot read the index another process published (%s); "
                                "this change rewrites it from the articles folder", exc)
                    self.library.documents()
                before = self.published
                yield
            if self.published != before:
                # Published and the lock released: the other processes take the change in
                # while this one embeds the new passages for the multilingual leg.
                self._announce()
                self._take(self.searcher.data, save=False)

    def _announce(self) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change()
        except Exception:  # the others still find the change at their next poll
            log.warning("could not announce the change to the other processes", exc_info=True)

    def _follow(self) -> IndexReport | None:
        if not self.behind():
            return None
        published = self.store.published()
        data, report = follow_index(self.store, self.searcher.data, self.lock)
        self.library.documents()  # the list and the duplicate check see their files too
        self._take(data, save=False)
        self.published = published
        return report

    def _refresh(self, docs: list[Document], progress: Progress | None = None) -> IndexReport:
        data, report = update_index(
            self.store, docs, self.embedder, self.cache, self.settings,
            progress, current=self.searcher.data, lock=self.lock,
        )
        if data is not self.searcher.data:
            # A compaction or rebuild moved every row: the multilingual rows are rebuilt
            # and saved for the next start, under the lock (processes share the folder).
            self._take(data, save=True)
        self.published = self.store.published()
        self.report = report
        return report

    def _take(self, data: IndexData, save: bool) -> None:
        """Serve ``data`` (the index held, changed in place, or a new one), with the
        multilingual rows of its new passages; ``save`` them when every row moved."""
        if self.multilingual is not None:
            # Embedding the new passages needs no lock; adding their rows takes it.
            self.multilingual.sync(data.live, self.settings.index.embed_title, lock=self.lock)
            if save and data is not self.searcher.data:  # a compaction: every row moved
                self.multilingual.save(data.live)
        if data is not self.searcher.data:
            with self.lock:
                self.searcher = Searcher(data, self.embedder, self.settings.search,
                                         self.multilingual, self.languages)

    def add(
        self, article: Article, scope: str = "", force: bool = False,
        progress: Progress | None = None,
    ) -> tuple[Document, IndexReport]:
        """Store an article and make it citable at once (only its passages are embedded).

        Raises:
            LibraryError: the article is empty, untitled or a duplicate.
        """
        with self._changing():
            doc = self.library.add(article, scope, force)
            return doc, self._refresh(self.library.snapshot(), progress)

    def remove(self, doc_id: str, scope: str | None = None) -> tuple[Document, IndexReport]:
        """Delete an added article from the corpus and the index.

        Raises:
            LibraryError: no such article in this scope, or a bundled one.
        """
        with self._changing():
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
