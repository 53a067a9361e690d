"""The index on disk: immutable segments bound together by a manifest.

Layout under ``<data_dir>/index/``::

    CURRENT                  name of the live manifest, replaced atomically
    manifest-000042.json     model, dimension, corpus fingerprint, document hashes,
                             the segments in order with their checksums, and the
                             rows of each segment that were deleted since
    seg-000001/              a segment, never changed once written:
        vectors.faiss        passage vectors (row = passage): a flat inner-product index,
                             or inverted lists past index.approximate_from rows
        sentences.npy        sentence vectors (float16), each passage's sentences in a
                             run, read by run for a question's candidates
                             (index.retrieval.sentence_rows)
        passages.jsonl       one passage record per line, in row order, read by row
                             when cited (index.retrieval.passage_table)
        table.npz            each line's offset and what the live index keeps of every
                             passage: id, document, scope, bio mark, sentence count
        keyword/             the passages' keyword postings as built at the write
                             (index.retrieval.keyword.save_terms), memory-mapped at a
                             start: no tokenizing and no sort
        words.txt            the passages' folded words, one per line (the name check's)

Why segments: an add writes one small segment (only the article's passages)
and a new manifest, and a remove writes only a manifest with more deleted
rows, so neither costs time in proportion to the corpus. ``save_full``
compacts everything into one segment again (on start-up, when segments or
deleted rows pile up).

Crash safety: segments are written under a temporary name, fsynced and
renamed; a manifest is written the same way; then ``CURRENT`` is switched with
one rename. A crash at any moment leaves the old manifest live (with at most a
stray segment, removed later) or the new one. A load checks every segment
against the manifest's checksums and raises ``IndexCorruptError`` on any
mismatch, so a damaged index is rebuilt, never silently used. The two bulk
files read by row (sentences.npy, passages.jsonl: at a million passages, 3 GB)
are checked by size and header at a load instead, so that a start does not read
them whole; a record that cannot be read later raises ``IndexCorruptError``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from filelock import FileLock

from index import atomic
from index.articles.passages import Passage
from index.config import IndexSettings
from index.crashpoints import crash_point
from index.errors import IndexCorruptError, IndexFormatError
from index.retrieval.ann import FlatIndex, VectorIndex, grow, load_index
from index.retrieval.keyword import STORED_FILES, StoredTerms, Tokens, load_terms, save_terms
from index.retrieval.live import LiveIndex, Origin, keyword_tokens
from index.retrieval.names import words_of
from index.retrieval.passage_table import StoredPassages, write_table
from index.retrieval.sentence_rows import SentenceRows, save_rows

log = logging.getLogger(__name__)

FORMAT_VERSION = 8
VECTORS = "vectors.faiss"
SENTENCES = "sentences.npy"
PASSAGES = "passages.jsonl"
TABLE = "table.npz"
KEYWORD = "keyword"
WORDS = "words.txt"
_TERM_FILES = tuple(f"{KEYWORD}/{name}" for name in STORED_FILES)
_FILES = (VECTORS, SENTENCES, PASSAGES, TABLE, WORDS, *_TERM_FILES)
_READ_BY_ROW = (SENTENCES, PASSAGES, *_TERM_FILES[1:])
"""Read by row or memory-mapped: checked by size at a load, not hashed (see the
module docstring)."""


@dataclass(frozen=True)
class Segment:
    """One immutable segment as the manifest records it."""

    name: str
    passages: int
    sentences: int
    checksums: dict[str, str]
    sizes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """What the live index holds and how it was made."""

    model: str
    dim: int
    count: int
    corpus_fingerprint: str
    format_version: int = FORMAT_VERSION
    documents: dict[str, str] = field(default_factory=dict)
    """Each document's hash, so an update re-splits only documents that changed."""
    segments: tuple[Segment, ...] = ()
    deleted: dict[str, list[int]] = field(default_factory=dict)
    """Rows of each segment removed since it was written."""

    def deleted_rows(self) -> int:
        """How many stored rows are dead."""
        return sum(len(rows) for rows in self.deleted.values())

    def stored_rows(self) -> int:
        """How many passage rows the segments hold, dead or alive."""
        return sum(s.passages for s in self.segments)


@dataclass
class IndexData:
    """A loaded index: its manifest and the searchable index in memory."""

    manifest: Manifest
    live: LiveIndex

    @property
    def passages(self) -> dict[str, Passage]:
        """The live passages by id."""
        return {p.passage_id: p for _, p in self.live.live_passages()}


class IndexStore:
    """Reads and writes the segmented index under ``<data_dir>/index``."""

    def __init__(self, data_dir: Path,
                 approximate_from: int = IndexSettings.approximate_from) -> None:
        """Args:
            data_dir: the data directory (the index lives in its ``index`` folder).
            approximate_from: rows from which the loaded vector indexes are
                approximate (``index.approximate_from``).
        """
        self.root = data_dir / "index"
        self.approximate_from = approximate_from
        # Beside the index folder, not in it: a publish clears unknown files from there.
        self._writing = FileLock(data_dir / "index.lock", preserve_lock_file=True)

    def writing(self) -> FileLock:
        """Held while this process changes the index on disk, from reading the published
        manifest to publishing the next one.

        Several processes may serve from one data directory (shards on one host, a
        rolling restart): each writes segments and manifests only under this lock,
        after taking in what the others published (``indexer.follow_index``), so no
        change is lost and no manifest names a segment another process removed.
        A lock on a file (``flock``): the system releases it when a process dies,
        even by ``kill -9``. Reentrant in one thread; blocking.
        """
        self.root.parent.mkdir(parents=True, exist_ok=True)
        return self._writing

    def new_live(self, dim: int) -> LiveIndex:
        """An empty in-memory index that grows as this store's settings say."""
        return LiveIndex(dim, self.approximate_from)

    def exists(self) -> bool:
        """Whether an index has ever been saved here."""
        return (self.root / "CURRENT").exists()

    def manifest_path(self) -> Path:
        """The live manifest file.

        Raises:
            IndexCorruptError: there is none, or CURRENT is unreadable.
        """
        try:
            name = (self.root / "CURRENT").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise IndexCorruptError("no index has been built yet") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise IndexCorruptError(f"cannot read {self.root / 'CURRENT'}: {exc}") from None
        path = self.root / name
        if not (name.startswith("manifest-") and path.is_file()):
            raise IndexCorruptError(f"{self.root / 'CURRENT'} names a missing manifest {name!r}")
        return path

    def published(self) -> str:
        """The name of the live manifest ("" before the first build): what another process
        compares to learn that the index changed."""
        try:
            return (self.root / "CURRENT").read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return ""

    def read_published(self) -> Manifest:
        """The live manifest, read without loading any segment.

        Raises:
            IndexCorruptError: there is none, or it cannot be read.
            IndexFormatError: another version of citebot wrote it.
        """
        return self._read_manifest(self.manifest_path())

    def load(self) -> IndexData:
        """Load and verify the live index, leaving out deleted rows.

        Raises:
            IndexCorruptError: a file is missing, unreadable or does not match
                the manifest.
        """
        manifest = self._read_manifest(self.manifest_path())
        live = self.new_live(manifest.dim)
        for segment in manifest.segments:
            self.load_segment(segment, manifest.deleted.get(segment.name, []), live)
        if len(live) != manifest.count:
            raise IndexCorruptError(
                f"the index holds {len(live)} live passages, its manifest says {manifest.count}"
            )
        unknown = set(manifest.deleted) - {s.name for s in manifest.segments}
        if unknown:
            raise IndexCorruptError(f"the manifest deletes rows of unknown segments {unknown}")
        return IndexData(manifest, live)

    def write_segment(
        self, passages: Sequence[Passage], vectors: np.ndarray, sentence_vectors: np.ndarray,
        tokens: Tokens | None = None,
    ) -> Segment:
        """Write passages, their vectors and keyword tokens as a new segment (not live
        until published); ``tokens`` are made here unless the caller has them."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"seg-{self._next_number():06d}"
        tmp = self.root / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        # A large segment is stored approximate, lists trained, so a start reads it
        # as it is instead of training them again.
        grow(FlatIndex(vectors.shape[1]), vectors, self.approximate_from).save(tmp / VECTORS)
        save_rows(tmp / SENTENCES, sentence_vectors)
        save_terms(tokens if tokens is not None else keyword_tokens(passages), tmp / KEYWORD)
        (tmp / WORDS).write_text("\n".join(sorted(words_of(passages))), "utf-8")
        write_table(tmp, passages, PASSAGES, TABLE)
        for file_name in _FILES:
            atomic.fsync(tmp / file_name)
        atomic.fsync(tmp / KEYWORD)
        checksums = {file_name: _sha256(tmp / file_name) for file_name in _FILES}
        sizes = {file_name: (tmp / file_name).stat().st_size for file_name in _FILES}
        os.replace(tmp, self.root / name)
        atomic.fsync(self.root)
        crash_point("segment-written")
        return Segment(name, len(passages), len(sentence_vectors), checksums, sizes)

    def open_segment(self, segment: Segment) -> LiveIndex:
        """A live index of one segment just written, read back as written: lists
        trained, terms tokenized and words folded once, at the write; passages on disk."""
        folder = self.root / segment.name
        passages = StoredPassages(folder, PASSAGES, TABLE, segment.passages)
        parts = _read_parts(folder, passages)
        live = self.new_live(parts.vectors.dim)
        live.adopt(passages, parts.vectors, parts.sentences, segment.name, parts.terms,
                   parts.words)
        return live

    def publish(self, manifest: Manifest) -> Manifest:
        """Make ``manifest`` the live one atomically, then delete what it no longer uses."""
        manifest = replace(manifest, format_version=FORMAT_VERSION)
        name = f"manifest-{self._next_number():06d}.json"
        atomic.write_text(self.root / name, json.dumps(asdict(manifest), indent=1))
        crash_point("manifest-written")
        atomic.write_text(self.root / "CURRENT", name + "\n")
        crash_point("published")
        self._remove_unused(name, {s.name for s in manifest.segments})
        return manifest

    def load_segment(self, segment: Segment, deleted: Sequence[int], live: LiveIndex) -> None:
        """Verify one segment of a manifest and add its rows (but ``deleted``) to ``live``.

        Raises:
            IndexCorruptError: a file is missing, unreadable or does not match the manifest.
        """
        folder = self.root / segment.name
        if set(segment.checksums) != set(_FILES) or set(segment.sizes) != set(_FILES):
            raise IndexCorruptError(f"the manifest lists the wrong files for {folder}")
        for file_name, expected in segment.checksums.items():
            path = folder / file_name
            try:
                size = path.stat().st_size
            except OSError as exc:
                raise IndexCorruptError(f"cannot read {path}: {exc.strerror or exc}") from None
            if size != segment.sizes[file_name] or (
                    file_name not in _READ_BY_ROW and _sha256(path) != expected):
                raise IndexCorruptError(f"{path} does not match its manifest")
        passages = StoredPassages(folder, PASSAGES, TABLE, segment.passages)
        parts = _read_parts(folder, passages)
        vectors, sentences = parts.vectors, parts.sentences
        if vectors.dim != live.dim:
            raise IndexCorruptError(f"{folder} has dimension {vectors.dim}, not {live.dim}")
        if not (vectors.size() == len(passages) == segment.passages
                and sentences.size() == segment.sentences):
            raise IndexCorruptError(f"{folder} holds different counts than its manifest")
        dead = set(deleted)
        if any(not 0 <= row < len(passages) for row in dead):
            raise IndexCorruptError(f"the manifest deletes rows that {folder} does not have")
        ids = passages.columns.ids
        if not len(live.passages):
            # The first segment (after a compaction, nearly all of the index): its own
            # indexes and files become the live ones, without a copy or a passage read;
            # its dead rows are masked.
            live.adopt(passages, vectors, sentences, segment.name, parts.terms, parts.words)
            live.remove([ids[row] for row in sorted(dead)])
            return
        keep = [row for row in range(len(passages)) if row not in dead]
        if any(ids[row] in live.position for row in keep):
            raise IndexCorruptError(f"{folder} repeats a passage of an earlier segment")
        counts = passages.columns.sentences
        starts = np.concatenate([[0], np.cumsum(counts)])
        sentence_rows = [r for row in keep for r in range(starts[row], starts[row + 1])]
        # A later segment is a recent add, small: its passages are held in memory.
        every = list(passages)
        live.add([every[row] for row in keep],
                 vectors.vectors(np.asarray(keep, dtype=np.int64)),
                 sentences.vectors(np.asarray(sentence_rows, dtype=np.int64)),
                 [Origin(segment.name, row) for row in keep], parts.terms.tokens().select(keep),
                 parts.words)

    def _read_manifest(self, path: Path) -> Manifest:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            raw["segments"] = tuple(Segment(**s) for s in raw.get("segments", ()))
            manifest = Manifest(**raw)
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise IndexCorruptError(f"cannot read {path}: {exc}") from None
        if manifest.format_version != FORMAT_VERSION:
            raise IndexFormatError(
                f"the index was built by another version of citebot (format "
                f"{manifest.format_version}; this version uses {FORMAT_VERSION})"
            )
        return manifest

    def _next_number(self) -> int:
        numbers = [0]
        for path in self.root.iterdir():
            stem = path.name.removeprefix(".").split(".")[0]
            prefix, _, digits = stem.partition("-")
            if prefix in ("seg", "manifest", "gen") and digits.isdigit():
                numbers.append(int(digits))
        return max(numbers) + 1

    def _remove_unused(self, manifest: str, segments: set[str]) -> None:
        for path in self.root.iterdir():
            if path.name in ("CURRENT", manifest) or path.name in segments:
                continue
            if path.name.startswith(("seg-", "manifest-", "gen-", ".")):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


@dataclass(frozen=True)
class _Parts:
    """What a segment stores beside its passages, read back."""

    vectors: VectorIndex
    sentences: SentenceRows
    terms: StoredTerms
    words: set[str]


def _read_parts(folder: Path, passages: StoredPassages) -> _Parts:
    """A segment's vector index, sentence rows, keyword terms and words.

    Raises:
        IndexCorruptError: a file cannot be read, or does not hold one row per passage.
    """
    count = len(passages)
    try:
        terms = load_terms(folder / KEYWORD, count)
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"cannot read {folder / KEYWORD}: {exc}") from None
    try:
        text = (folder / WORDS).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"cannot read {folder / WORDS}: {exc}") from None
    vectors = load_index(folder / VECTORS)
    sentences = SentenceRows(vectors.dim)
    sentences.attach(folder / SENTENCES, int(np.sum(passages.columns.sentences)))
    return _Parts(vectors, sentences, terms, set(text.split("\n")) if text else set())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise IndexCorruptError(f"cannot read {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()
