"""Building and updating the index from the corpus files.

An update embeds only passages that are new, writes them as one new segment,
records the rows that are gone, and applies both to the index in memory; an
unchanged corpus costs a fingerprint check. So an add or remove costs time in
proportion to the article, not the corpus. Segments and dead rows are
compacted away when they pile up (on start-up, or in a running process once
half the rows are dead). A model change, or an index that fails verification,
forces a full rebuild, and the report says why.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace

import numpy as np

from index.articles.documents import Document
from index.articles.passages import Passage, split_corpus
from index.config import Settings
from index.errors import IndexCorruptError, IndexFormatError
from index.retrieval.embedder import EmbeddingCache, Encoder, Progress, embed_with_cache
from index.retrieval.live import LiveIndex, Origin, keyword_tokens
from index.retrieval.store import FORMAT_VERSION, IndexData, IndexStore, Manifest

log = logging.getLogger(__name__)

MAX_SEGMENTS_AT_START = 8
"""More segments than this are merged into one when the index is loaded."""
MAX_DEAD_AT_START = 0.2
"""A larger share of dead rows is compacted away when the index is loaded."""
MAX_DEAD_RUNNING = 0.5
"""In a running process, compact once half the rows are dead (amortised O(1) per row)."""


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
        parts.append(f"{doc.doc_id}\x1f{doc.scope}\x1f{doc.digest}")
    digest.update("\n".join(parts).encode("utf-8"))
    return digest.hexdigest()


def document_hash(doc: Document, settings: Settings) -> str:
    """What a document's passages depend on: its text and scope, and the splitting settings."""
    key = (f"{settings.index.max_passage_tokens}\x1f{settings.index.embed_title}\x1f"
           f"{doc.scope}\x1f{doc.digest}")
    return hashlib.sha256(key.encode()).hexdigest()


def update_index(
    store: IndexStore,
    docs: list[Document],
    embedder: Encoder,
    cache: EmbeddingCache | None,
    settings: Settings,
    progress: Progress | None = None,
    current: IndexData | None = None,
    lock: AbstractContextManager[object] | None = None,
) -> tuple[IndexData, IndexReport]:
    """Bring the stored index in line with ``docs``, embedding only what is new.

    Args:
        current: the index already loaded by this process, if any; it is
            changed in place instead of reading the stored one again.
        lock: held while ``current`` is changed in memory, so that a search
            in another thread never sees half of a change. Embedding and
            disk writes happen outside it.

    Returns:
        The live index (``current`` itself unless it was compacted or
        rebuilt) and a report of what changed.
    """
    guard = lock or nullcontext()
    fingerprint = corpus_fingerprint(docs, settings, embedder.name)
    if current is not None and current.manifest.model == embedder.name:
        existing, reason = current, ""
    else:
        existing, reason = _load_existing(store, embedder)
    hashes = {d.doc_id: document_hash(d, settings) for d in docs}
    if existing is None:
        data = _build(store, docs, hashes, fingerprint, embedder, cache, settings, progress)
        report = IndexReport(len(data.live), len(data.live), 0, True, reason)
        log.info(report.describe())
        return data, report
    added = removed = 0
    if existing.manifest.corpus_fingerprint != fingerprint:
        added, removed = _update(store, existing, docs, hashes, fingerprint, embedder, cache,
                                 settings, progress, guard)
    if _fragmented(existing.manifest, running=current is not None):
        existing = _compact(store, existing)
    report = IndexReport(len(existing.live), added, removed, False)
    if added or removed:
        log.info(report.describe())
    return existing, report


def follow_index(
    store: IndexStore,
    current: IndexData,
    lock: AbstractContextManager[object] | None = None,
) -> tuple[IndexData, IndexReport]:
    """Bring this process's index in line with the manifest another process published.

    Several processes serve from one data directory; the one that adds or removes
    an article writes the segment and the manifest (under ``IndexStore.writing``),
    the others follow here without writing anything: a manifest that only adds
    segments and deleted rows to the one held (an add, a remove) is applied in
    place, reading just the new segments (one article each); any other (a
    compaction, a rebuild) is loaded whole.

    Args:
        current: the index this process holds, changed in place when it can be.
        lock: held while ``current`` changes in memory (as in ``update_index``).

    Returns:
        The live index (``current`` unless it was loaded whole) and what changed.

    Raises:
        IndexCorruptError, IndexFormatError: the published index cannot be read;
            ``current`` is left as it was.
    """
    stored = store.read_published()
    held = current.manifest
    if stored == held:
        return current, IndexReport(len(current.live), 0, 0, False)
    mine = [s.name for s in held.segments]
    if ((stored.model, stored.dim) != (held.model, held.dim)
            or [s.name for s in stored.segments[: len(mine)]] != mine):
        data = store.load()
        report = IndexReport(len(data.live), 0, 0, True, "another process rewrote the index")
        log.info("%s: loaded it again (%d passages)", report.reason, report.total)
        return data, report
    # Read the new segments first, into indexes of their own, outside the lock.
    fresh: list[LiveIndex] = []
    for segment in stored.segments[len(mine):]:
        part = store.new_live(held.dim)
        store.load_segment(segment, stored.deleted.get(segment.name, []), part)
        fresh.append(part)
    live = current.live
    added = removed = 0
    with lock or nullcontext():
        gone: list[int] = []
        for name in mine:
            rows = set(stored.deleted.get(name, ())) - set(held.deleted.get(name, ()))
            gone += live.positions_at(name, rows)
        live.remove([live.passages[p].passage_id for p in gone])
        removed = len(gone)
        for part in fresh:
            positions = [p for p, _ in part.live_passages()]
            rows = [r for p in positions for r in part.sentence_rows(p)]
            picked = np.asarray(positions, dtype=np.int64)
            live.add([part.passages[p] for p in positions], part.vectors.vectors(picked),
                     part.sentence_vectors.vectors(np.asarray(rows, dtype=np.int64)),
                     [part.origin(p) for p in positions], part.keyword.tokens(positions),
                     set().union(*part.words_added))
            added += len(positions)
        current.manifest = stored
    report = IndexReport(len(live), added, removed, False)
    log.info("followed another process's change: %s", report.describe())
    return current, report


def _build(
    store: IndexStore,
    docs: list[Document],
    hashes: dict[str, str],
    fingerprint: str,
    embedder: Encoder,
    cache: EmbeddingCache | None,
    settings: Settings,
    progress: Progress | None,
) -> IndexData:
    """Split, embed and store the whole corpus as one segment."""
    passages = _split(docs, embedder, settings)
    vectors, sentence_vectors = _embed(passages, embedder, cache, settings, progress)
    tokens = keyword_tokens(passages)
    segment = store.write_segment(passages, vectors, sentence_vectors, tokens)
    manifest = store.publish(Manifest(embedder.name, embedder.dim, len(passages), fingerprint,
                                      documents=hashes, segments=(segment,)))
    return IndexData(manifest, store.open_segment(segment))


def _update(
    store: IndexStore,
    data: IndexData,
    docs: list[Document],
    hashes: dict[str, str],
    fingerprint: str,
    embedder: Encoder,
    cache: EmbeddingCache | None,
    settings: Settings,
    progress: Progress | None,
    guard: AbstractContextManager[object],
) -> tuple[int, int]:
    """Apply the documents that changed: one new segment, more dead rows, a new manifest.

    Only new and changed documents are split (splitting tokenises every
    sentence), and only their passages not already indexed are embedded.
    The change is on disk before it is applied in memory, so a failed write
    leaves the process with the index it had.
    """
    live = data.live
    known = data.manifest.documents
    changed = [d for d in docs if known.get(d.doc_id) != hashes[d.doc_id]]
    stale = [doc_id for doc_id in known if doc_id not in hashes]
    stale += [d.doc_id for d in changed if d.doc_id in known]
    fresh = _split(changed, embedder, settings)
    fresh_ids = {p.passage_id for p in fresh}
    removed = [pid for doc_id in stale for pid in live.doc_passage_ids(doc_id)
               if pid not in fresh_ids]
    new = [p for p in fresh if p.passage_id not in live.position]
    vectors, sentence_vectors = _embed(new, embedder, cache, settings, progress)
    deleted = {name: list(rows) for name, rows in data.manifest.deleted.items()}
    for pid in removed:
        origin = live.origin(live.position[pid])
        deleted.setdefault(origin.segment, []).append(origin.row)
    segments = data.manifest.segments
    origins: list[Origin] = []
    tokens = keyword_tokens(new)
    if new:
        segment = store.write_segment(new, vectors, sentence_vectors, tokens)
        segments = (*segments, segment)
        origins = [Origin(segment.name, row) for row in range(len(new))]
    manifest = store.publish(replace(
        data.manifest, count=len(live) - len(removed) + len(new),
        corpus_fingerprint=fingerprint, documents=hashes, segments=segments, deleted=deleted,
    ))
    with guard:
        live.remove(removed)
        live.add(new, vectors, sentence_vectors, origins, tokens)
        data.manifest = manifest
    return len(new), len(removed)


def _fragmented(manifest: Manifest, running: bool) -> bool:
    """Whether segments or dead rows have piled up enough to be worth a compaction."""
    stored = manifest.stored_rows()
    dead = manifest.deleted_rows() / stored if stored else 0.0
    if running:
        return dead > MAX_DEAD_RUNNING
    return len(manifest.segments) > MAX_SEGMENTS_AT_START or dead > MAX_DEAD_AT_START


def _compact(store: IndexStore, data: IndexData) -> IndexData:
    """Rewrite the live rows as one segment, dropping dead rows and merging segments."""
    live = data.live
    kept = list(live.live_passages())
    positions = [position for position, _ in kept]
    passages = [passage for _, passage in kept]
    rows = [r for i in positions for r in live.sentence_rows(i)]
    vectors = live.vectors.vectors(np.asarray(positions, dtype=np.int64))
    sentence_vectors = live.sentence_vectors.vectors(np.asarray(rows, dtype=np.int64))
    # The live keyword index has every passage's terms already: no tokenizing again.
    tokens = live.keyword.tokens(positions)
    segment = store.write_segment(passages, vectors, sentence_vectors, tokens)
    manifest = store.publish(replace(data.manifest, count=len(passages), segments=(segment,),
                                     deleted={}))
    fresh = store.open_segment(segment)
    log.info("compacted the index into one segment of %d passages", len(passages))
    return IndexData(manifest, fresh)


def _split(docs: list[Document], embedder: Encoder, settings: Settings) -> list[Passage]:
    return split_corpus(
        docs,
        embedder.count_tokens,
        settings.index.max_passage_tokens,
        embedder.max_tokens,
        settings.index.embed_title,
    )


def _load_existing(store: IndexStore, embedder: Encoder) -> tuple[IndexData | None, str]:
    """The stored index if it is usable with this model, else None and why not."""
    if not store.exists():
        return None, ""
    try:
        existing = store.load()
    except IndexFormatError as exc:
        log.info("%s; rebuilding it", exc)
        return None, str(exc)
    except IndexCorruptError as exc:
        log.warning("the index is damaged (%s); rebuilding it", exc)
        return None, f"the stored index was damaged: {exc}"
    if existing.manifest.model != embedder.name or existing.manifest.dim != embedder.dim:
        reason = f"the model changed from {existing.manifest.model} to {embedder.name}"
        log.warning("%s; rebuilding the index", reason)
        return None, reason
    return existing, ""


def _embed(
    passages: list[Passage],
    embedder: Encoder,
    cache: EmbeddingCache | None,
    settings: Settings,
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of the passages and of each of their sentences (in passage order)."""
    empty = np.zeros((0, embedder.dim), dtype=np.float32)
    if not passages:
        return empty, empty
    texts = [p.embed_text(settings.index.embed_title) for p in passages]
    sentences = [s for p in passages for s in p.sentence_texts()]
    matrix = embed_with_cache(embedder, cache, texts + sentences, progress)
    return matrix[: len(texts)], matrix[len(texts):]
