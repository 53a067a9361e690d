"""The index on disk: FAISS vectors, the passage store and the manifest that binds them.

Layout under ``<data_dir>/index/``::

    CURRENT              name of the live generation, replaced atomically
    gen-000042/
        manifest.json    model, dimension, count, corpus fingerprint, format, checksums
        vectors.faiss    passage vectors: IndexIDMap2 over an inner-product flat index
        sentences.faiss  one vector per sentence of each passage, the same kind of index
        passages.jsonl   one passage record per line, in id order

A save writes a whole new generation folder (each file written to a temporary
name, fsynced and renamed), then points ``CURRENT`` at it with one rename. A
crash at any moment therefore leaves either the old generation or the new one
live, never a mixture. A load checks every file against the manifest and
raises ``IndexCorruptError`` on any mismatch, so a damaged index is rebuilt,
never silently used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from . import atomic
from .errors import IndexCorruptError
from .passages import Passage

log = logging.getLogger(__name__)

FORMAT_VERSION = 3
_VECTORS = "vectors.faiss"
_SENTENCES = "sentences.faiss"
_PASSAGES = "passages.jsonl"
_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    """What an index generation holds and how it was made."""

    model: str
    dim: int
    count: int
    corpus_fingerprint: str
    format_version: int = FORMAT_VERSION
    checksums: dict[str, str] = field(default_factory=dict)
    documents: dict[str, str] = field(default_factory=dict)
    """Each document's hash, so an update re-splits only documents that changed."""


@dataclass
class IndexData:
    """A loaded index: passage and sentence vectors, and the passages they stand for."""

    manifest: Manifest
    vectors: faiss.Index
    sentence_vectors: faiss.Index
    passages: dict[str, Passage]

    def ordered_passages(self) -> list[Passage]:
        """Passages in a stable order (by id)."""
        return [self.passages[k] for k in sorted(self.passages)]


def faiss_id(passage_id: str) -> int:
    """The 60-bit integer FAISS stores for a passage id (its first 15 hex digits)."""
    return int(passage_id[:15], 16)


def sentence_faiss_id(sentence_id: str) -> int:
    """The 60-bit integer FAISS stores for a sentence id ("<passage id>:<n>")."""
    return int(hashlib.sha256(sentence_id.encode()).hexdigest()[:15], 16)


def new_vectors(dim: int) -> faiss.Index:
    """An empty exact inner-product index with explicit ids.

    Flat search stays fast (a few ms) up to about a hundred thousand passages,
    which is far beyond a community's article collection; ids let passages be
    added and removed one by one.
    """
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def add_vectors(index: faiss.Index, ids: list[int], vectors: np.ndarray) -> None:
    """Add vectors under their FAISS ids."""
    if ids:
        array = np.array(ids, dtype=np.int64)
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), array)


def remove_vectors(index: faiss.Index, ids: Iterable[int]) -> None:
    """Remove vectors by FAISS id."""
    array = np.array(list(ids), dtype=np.int64)
    if len(array):
        index.remove_ids(array)


def stored_ids(index: faiss.Index) -> np.ndarray:
    """The FAISS ids of an IndexIDMap2, in storage order."""
    return faiss.vector_to_array(index.id_map) if index.ntotal else np.zeros(0, dtype=np.int64)


class IndexStore:
    """Reads and writes index generations under ``<data_dir>/index``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "index"

    def exists(self) -> bool:
        """Whether an index has ever been saved here."""
        return (self.root / "CURRENT").exists()

    def load(self) -> IndexData:
        """Load and verify the live generation.

        Raises:
            IndexCorruptError: a file is missing, unreadable or does not match
                the manifest.
        """
        try:
            name = (self.root / "CURRENT").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise IndexCorruptError("no index has been built yet") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise IndexCorruptError(f"cannot read {self.root / 'CURRENT'}: {exc}") from None
        folder = self.root / name
        if not name.startswith("gen-") or not folder.is_dir():
            raise IndexCorruptError(f"{self.root / 'CURRENT'} names a missing generation {name!r}")
        manifest = self._read_manifest(folder)
        for file_name, expected in manifest.checksums.items():
            actual = _sha256(folder / file_name)
            if actual != expected:
                raise IndexCorruptError(f"{folder / file_name} does not match its manifest")
        if set(manifest.checksums) != {_VECTORS, _SENTENCES, _PASSAGES}:
            raise IndexCorruptError(f"{folder / _MANIFEST} lists the wrong files")
        vectors = _read_faiss(folder / _VECTORS)
        sentence_vectors = _read_faiss(folder / _SENTENCES)
        passages = self._read_passages(folder / _PASSAGES)
        if vectors.ntotal != manifest.count or len(passages) != manifest.count:
            raise IndexCorruptError(
                f"index holds {vectors.ntotal} vectors and {len(passages)} passages, "
                f"manifest says {manifest.count}"
            )
        if vectors.d != manifest.dim:
            raise IndexCorruptError(f"index dimension {vectors.d} != manifest {manifest.dim}")
        if set(stored_ids(vectors).tolist()) != {faiss_id(p) for p in passages}:
            raise IndexCorruptError("the vector ids do not match the passage store")
        wanted = {sentence_faiss_id(s) for p in passages.values() for s in p.sentence_ids()}
        if set(stored_ids(sentence_vectors).tolist()) != wanted:
            raise IndexCorruptError("the sentence vectors do not match the passage store")
        return IndexData(manifest, vectors, sentence_vectors, passages)

    def save(self, data: IndexData) -> None:
        """Write ``data`` as a new generation and make it live atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        generation = self._next_generation()
        folder = self.root / generation
        tmp_folder = self.root / f".{generation}.tmp"
        shutil.rmtree(tmp_folder, ignore_errors=True)
        tmp_folder.mkdir()
        faiss.write_index(data.vectors, str(tmp_folder / _VECTORS))
        faiss.write_index(data.sentence_vectors, str(tmp_folder / _SENTENCES))
        lines = (json.dumps(p.to_record(), ensure_ascii=False) for p in data.ordered_passages())
        (tmp_folder / _PASSAGES).write_text("".join(f"{line}\n" for line in lines), "utf-8")
        checksums = {name: _sha256(tmp_folder / name) for name in (_VECTORS, _SENTENCES, _PASSAGES)}
        manifest = Manifest(
            model=data.manifest.model,
            dim=data.manifest.dim,
            count=len(data.passages),
            corpus_fingerprint=data.manifest.corpus_fingerprint,
            checksums=checksums,
            documents=data.manifest.documents,
        )
        (tmp_folder / _MANIFEST).write_text(json.dumps(asdict(manifest), indent=2), "utf-8")
        for name in (_VECTORS, _SENTENCES, _PASSAGES, _MANIFEST):
            atomic.fsync(tmp_folder / name)
        os.replace(tmp_folder, folder)
        atomic.fsync(self.root)
        atomic.write_text(self.root / "CURRENT", generation + "\n")
        data.manifest = manifest
        self._remove_old(keep=generation)

    def _read_manifest(self, folder: Path) -> Manifest:
        try:
            raw = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
            manifest = Manifest(**raw)
        except (OSError, ValueError, TypeError) as exc:
            raise IndexCorruptError(f"cannot read {folder / _MANIFEST}: {exc}") from None
        if manifest.format_version != FORMAT_VERSION:
            raise IndexCorruptError(
                f"index format {manifest.format_version} is not {FORMAT_VERSION}"
            )
        return manifest

    def _read_passages(self, path: Path) -> dict[str, Passage]:
        passages: dict[str, Passage] = {}
        try:
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    passage = Passage.from_record(json.loads(line))
                    passages[passage.passage_id] = passage
        except (OSError, ValueError, TypeError) as exc:
            raise IndexCorruptError(f"cannot read {path}: {exc}") from None
        return passages

    def _next_generation(self) -> str:
        numbers = [int(p.name[4:]) for p in self.root.glob("gen-*") if p.name[4:].isdigit()]
        return f"gen-{max(numbers, default=0) + 1:06d}"

    def _remove_old(self, keep: str) -> None:
        for path in self.root.iterdir():
            if path.name in (keep, "CURRENT"):
                continue
            if path.name.startswith(("gen-", ".gen-")) or path.name.startswith(".CURRENT"):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


def _read_faiss(path: Path) -> faiss.Index:
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        raise IndexCorruptError(f"cannot read {path}: {exc}") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise IndexCorruptError(f"cannot read {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()
