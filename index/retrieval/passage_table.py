"""Passages by position, read from their segment's file only when they are cited.

A search ranks positions with arrays (vectors, keyword postings, scopes, the
bio mask, sentence counts); it needs whole passages (text, title, author, link)
only for the handful it cites. Holding every passage as a Python object cost
about 2 KB a passage and most of a start (reading and building 100,000 of
them took 2 s), so a stored segment's passages stay in its ``passages.jsonl``
and one is read (one positioned read, one JSON record) when asked for; the
segment's ``table.npz`` holds the line offsets and the few columns that the
live index keeps for every passage (``PassageColumns``). Passages added while
serving stay in memory until the next compaction writes them into a segment.
"""

from __future__ import annotations

import bisect
import json
import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np

from index.articles.documents import BIO
from index.articles.passages import Passage
from index.errors import IndexCorruptError


def _join(values: Sequence[str]) -> np.ndarray:
    return np.frombuffer("\n".join(values).encode("utf-8"), dtype=np.uint8)


def _split(buffer: np.ndarray, count: int, path: Path, what: str) -> list[str]:
    values = buffer.tobytes().decode("utf-8").split("\n") if count else []
    if len(values) != count:
        raise IndexCorruptError(f"{path} holds {len(values)} {what}, not {count}")
    return values


@dataclass(frozen=True)
class PassageColumns:
    """What the live index keeps of every passage, without the passage itself."""

    ids: list[str]
    doc_ids: list[str]
    scopes: list[str]
    bio: np.ndarray
    """Whether each passage is an author bio (``index.retrieval.parts``)."""
    sentences: np.ndarray
    """How many sentences each passage has (its run of sentence vectors)."""

    @classmethod
    def of(cls, passages: Sequence[Passage]) -> PassageColumns:
        """The columns of passages in memory."""
        return cls([p.passage_id for p in passages], [p.doc_id for p in passages],
                   [p.scope for p in passages],
                   np.array([p.part == BIO for p in passages], dtype=bool),
                   np.array([len(p.sentences) for p in passages], dtype=np.int32))

    def __len__(self) -> int:
        return len(self.ids)


def write_table(folder: Path, passages: Sequence[Passage], lines: str, table: str) -> None:
    """Write ``passages`` as JSON lines to ``folder/lines`` and their offsets and
    columns to ``folder/table`` (the caller makes the folder's write atomic)."""
    encoded = [(json.dumps(p.to_record(), ensure_ascii=False) + "\n").encode("utf-8")
               for p in passages]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(line) for line in encoded], out=offsets[1:])
    with (folder / lines).open("wb") as handle:
        handle.writelines(encoded)
    columns = PassageColumns.of(passages)
    with (folder / table).open("wb") as handle:
        np.savez(handle, offsets=offsets, bio=columns.bio, sentences=columns.sentences,
                 ids=_join(columns.ids), doc_ids=_join(columns.doc_ids),
                 scopes=_join(columns.scopes))


class StoredPassages(Sequence[Passage]):
    """One segment's passages, each read from its file when asked for (any thread)."""

    def __init__(self, folder: Path, lines: str, table: str, count: int) -> None:
        """Read the segment's offsets and columns; the passages stay on disk.

        Raises:
            IndexCorruptError: the table cannot be read or does not describe
                ``count`` passages filling the lines file exactly.
        """
        self.path = folder / lines
        try:
            with np.load(folder / table) as stored:
                offsets = stored["offsets"]
                bio, sentences = stored["bio"], stored["sentences"]
                raw = {key: stored[key] for key in ("ids", "doc_ids", "scopes")}
            size = self.path.stat().st_size
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise IndexCorruptError(f"cannot read {folder / table}: {exc}") from None
        if not (len(offsets) == count + 1 == len(bio) + 1 == len(sentences) + 1
                and offsets[0] == 0 and offsets[-1] == size
                and bool(np.all(np.diff(offsets) > 0))):
            raise IndexCorruptError(f"{folder / table} does not describe {self.path}")
        self.offsets = offsets
        self.columns = PassageColumns(
            _split(raw["ids"], count, folder / table, "passage ids"),
            _split(raw["doc_ids"], count, folder / table, "document ids"),
            _split(raw["scopes"], count, folder / table, "scopes"),
            bio.astype(bool), sentences.astype(np.int32))
        self._fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @overload
    def __getitem__(self, row: int) -> Passage: ...
    @overload
    def __getitem__(self, row: slice) -> list[Passage]: ...
    def __getitem__(self, row: int | slice) -> Passage | list[Passage]:
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        if not -len(self) <= row < len(self):
            raise IndexError(row)
        row %= len(self)
        start, end = int(self.offsets[row]), int(self.offsets[row + 1])
        data = os.pread(self._fd, end - start, start)
        try:
            return Passage.from_record(json.loads(data))
        except (ValueError, TypeError) as exc:
            raise IndexCorruptError(f"row {row} of {self.path} cannot be read: {exc}") from None

    def __iter__(self) -> Iterator[Passage]:
        # One sequential read instead of a read per passage (a compaction reads them all).
        with self.path.open(encoding="utf-8") as handle:
            for row, line in enumerate(handle):
                try:
                    yield Passage.from_record(json.loads(line))
                except (ValueError, TypeError) as exc:
                    raise IndexCorruptError(
                        f"row {row} of {self.path} cannot be read: {exc}") from None

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)


class PassageTable(Sequence[Passage]):
    """All passages of a live index by position: stored segments, then those in memory."""

    def __init__(self) -> None:
        self._firsts: list[int] = []
        self._chunks: list[StoredPassages | list[Passage]] = []
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def extend(self, passages: Sequence[Passage]) -> None:
        """Append passages: a segment's ``StoredPassages`` as they are, others in memory."""
        if not len(passages):
            return
        if isinstance(passages, StoredPassages):
            self._firsts.append(self._size)
            self._chunks.append(passages)
        elif self._chunks and isinstance(self._chunks[-1], list):
            self._chunks[-1].extend(passages)
        else:
            self._firsts.append(self._size)
            self._chunks.append(list(passages))
        self._size += len(passages)

    @overload
    def __getitem__(self, position: int) -> Passage: ...
    @overload
    def __getitem__(self, position: slice) -> list[Passage]: ...
    def __getitem__(self, position: int | slice) -> Passage | list[Passage]:
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(self._size))]
        if not -self._size <= position < self._size:
            raise IndexError(position)
        position %= self._size
        c = _chunk_of(self._firsts, position)
        return self._chunks[c][position - self._firsts[c]]

    def __iter__(self) -> Iterator[Passage]:
        for chunk in self._chunks:
            yield from chunk


def _chunk_of(firsts: list[int], position: int) -> int:
    """The index of the chunk holding ``position``."""
    return bisect.bisect_right(firsts, position) - 1
