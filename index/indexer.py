"""Building and updating the index from the corpus files.

An update embeds only passages that are new, removes those that are gone, and
writes a new index generation; an unchanged corpus costs a fingerprint check.
A model change, or an index that fails verification, forces a full rebuild, and
the report says why.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from .config import Settings
from .documents import Document
from .embedder import Embedder, EmbeddingCache, Progress, embed_with_cache
from .errors import IndexCorruptError
from .passages import Passage, split_corpus
from .store import (
    FORMAT_VERSION,
    IndexData,
    IndexStore,
    Manifest,
    add_vectors,
    new_vectors,
    remove_vectors,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexReport:
    """What an update did, for the user."""

    total: int
    added: int
    removed: int
    rebuilt: bool
    reason: str = ""

    def describe(self) -> str:
        """One line for the terminal."""
        if self.rebuilt:
            head = f"rebuilt the index ({self.reason})" if self.reason else "built the index"
            return f"{head}: {self.total} passages"
        if not self.added and not self.removed:
            return f"index is up to date: {self.total} passages"
        return (
            f"updated the index: {self.added} passages added, {self.removed} removed, "
            f"{self.total} in all"
        )


def corpus_fingerprint(docs: list[Document], settings: Settings, model: str) -> str:
    """A hash of everything the passages and vectors depend on."""
    digest = hashlib.sha256()
    parts = [
        f"format={FORMAT_VERSION}",
        f"model={model}",
        f"max_tokens={settings.index.max_passage_tokens}",
        f"title={settings.index.embed_title}",
    ]
    for doc in sorted(docs, key=lambda d: d.doc_id):
        text_hash = hashlib.sha256(doc.text.encode("utf-8")).hexdigest()
        parts.append(f"{doc.doc_id}\x1f{doc.scope}\x1f{text_hash}")
    digest.update("\n".join(parts).encode("utf-8"))
    return digest.hexdigest()


def update_index(
    store: IndexStore,
    docs: list[Document],
    embedder: Embedder,
    cache: EmbeddingCache | None,
    settings: Settings,
    progress: Progress | None = None,
) -> tuple[IndexData, IndexReport]:
    """Bring the stored index in line with ``docs``, embedding only what is new.

    Returns:
        The live index and a report of what changed.
    """
    fingerprint = corpus_fingerprint(docs, settings, embedder.name)
    existing, reason = _load_existing(store, embedder)
    if existing is not None and existing.manifest.corpus_fingerprint == fingerprint:
        return existing, IndexReport(len(existing.passages), 0, 0, rebuilt=False)
    passages = split_corpus(
        docs,
        embedder.count_tokens,
        settings.index.max_passage_tokens,
        embedder.max_tokens,
        settings.index.embed_title,
    )
    wanted = {p.passage_id: p for p in passages}
    if existing is None:
        vectors = new_vectors(embedder.dim)
        removed: list[str] = []
        new = list(wanted.values())
    else:
        vectors = existing.vectors
        removed = [pid for pid in existing.passages if pid not in wanted]
        new = [p for pid, p in wanted.items() if pid not in existing.passages]
    _embed_and_add(vectors, new, embedder, cache, settings.index.embed_title, progress)
    remove_vectors(vectors, removed)
    manifest = Manifest(embedder.name, embedder.dim, len(wanted), fingerprint)
    data = IndexData(manifest, vectors, wanted)
    store.save(data)
    report = IndexReport(len(wanted), len(new), len(removed), existing is None, reason)
    log.info(report.describe())
    return data, report


def _load_existing(store: IndexStore, embedder: Embedder) -> tuple[IndexData | None, str]:
    """The stored index if it is usable with this model, else None and why not."""
    if not store.exists():
        return None, ""
    try:
        existing = store.load()
    except IndexCorruptError as exc:
        log.warning("the index is damaged (%s); rebuilding it", exc)
        return None, f"the stored index was damaged: {exc}"
    if existing.manifest.model != embedder.name or existing.manifest.dim != embedder.dim:
        reason = f"the model changed from {existing.manifest.model} to {embedder.name}"
        log.warning("%s; rebuilding the index", reason)
        return None, reason
    return existing, ""


def _embed_and_add(
    vectors: object,
    passages: list[Passage],
    embedder: Embedder,
    cache: EmbeddingCache | None,
    with_title: bool,
    progress: Progress | None,
) -> None:
    if not passages:
        return
    texts = [p.embed_text(with_title) for p in passages]
    matrix = embed_with_cache(embedder, cache, texts, progress)
    add_vectors(vectors, passages, matrix)  # type: ignore[arg-type]
