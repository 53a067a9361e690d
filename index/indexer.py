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
    faiss_id,
    new_vectors,
    remove_vectors,
    sentence_faiss_id,
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
    current: IndexData | None = None,
) -> tuple[IndexData, IndexReport]:
    """Bring the stored index in line with ``docs``, embedding only what is new.

    Args:
        current: the index already loaded by this process, if any; it is
            updated instead of reading the stored one again.

    Returns:
        The live index and a report of what changed.
    """
    fingerprint = corpus_fingerprint(docs, settings, embedder.name)
    if current is not None and current.manifest.model == embedder.name:
        existing, reason = current, ""
    else:
        existing, reason = _load_existing(store, embedder)
    if existing is not None and existing.manifest.corpus_fingerprint == fingerprint:
        return existing, IndexReport(len(existing.passages), 0, 0, rebuilt=False)
    hashes = {d.doc_id: document_hash(d, settings) for d in docs}
    passages = _passages(docs, hashes, existing, embedder, settings)
    wanted = {p.passage_id: p for p in passages}
    if existing is None:
        data = IndexData(
            Manifest(embedder.name, embedder.dim, 0, fingerprint),
            new_vectors(embedder.dim),
            new_vectors(embedder.dim),
            {},
        )
        removed: list[Passage] = []
        new = list(wanted.values())
    else:
        data = existing
        removed = [p for pid, p in existing.passages.items() if pid not in wanted]
        new = [p for pid, p in wanted.items() if pid not in existing.passages]
    _embed_and_add(data, new, embedder, cache, settings.index.embed_title, progress)
    remove_vectors(data.vectors, [faiss_id(p.passage_id) for p in removed])
    remove_vectors(
        data.sentence_vectors, [sentence_faiss_id(s) for p in removed for s in p.sentence_ids()]
    )
    data.passages = wanted
    data.manifest = Manifest(embedder.name, embedder.dim, len(wanted), fingerprint,
                             documents=hashes)
    store.save(data)
    report = IndexReport(len(wanted), len(new), len(removed), existing is None, reason)
    log.info(report.describe())
    return data, report


def document_hash(doc: Document, settings: Settings) -> str:
    """What a document's passages depend on: its text and scope, and the splitting settings."""
    key = (f"{settings.index.max_passage_tokens}\x1f{settings.index.embed_title}\x1f"
           f"{doc.scope}\x1f{doc.text}")
    return hashlib.sha256(key.encode()).hexdigest()


def _passages(
    docs: list[Document],
    hashes: dict[str, str],
    existing: IndexData | None,
    embedder: Embedder,
    settings: Settings,
) -> list[Passage]:
    """All passages, re-splitting only documents that are new or changed.

    Splitting tokenises every sentence, so doing it for unchanged documents
    would make each add cost time in proportion to the whole corpus. The
    fingerprint already covers the settings and model, and a mismatch there
    means ``existing`` is None here.
    """
    kept: dict[str, list[Passage]] = {}
    if existing is not None:
        for passage in existing.passages.values():
            if existing.manifest.documents.get(passage.doc_id) == hashes.get(passage.doc_id):
                kept.setdefault(passage.doc_id, []).append(passage)
    changed = [d for d in docs if d.doc_id not in kept]
    fresh = split_corpus(
        changed,
        embedder.count_tokens,
        settings.index.max_passage_tokens,
        embedder.max_tokens,
        settings.index.embed_title,
    )
    return [p for d in docs for p in kept.get(d.doc_id, [])] + fresh


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
    data: IndexData,
    passages: list[Passage],
    embedder: Embedder,
    cache: EmbeddingCache | None,
    with_title: bool,
    progress: Progress | None,
) -> None:
    """Embed new passages and each of their sentences, and add both to the index."""
    if not passages:
        return
    texts = [p.embed_text(with_title) for p in passages]
    sentences = [s for p in passages for s in p.sentence_texts()]
    matrix = embed_with_cache(embedder, cache, texts + sentences, progress)
    add_vectors(data.vectors, [faiss_id(p.passage_id) for p in passages], matrix[: len(texts)])
    sentence_ids = [sentence_faiss_id(s) for p in passages for s in p.sentence_ids()]
    add_vectors(data.sentence_vectors, sentence_ids, matrix[len(texts) :])
