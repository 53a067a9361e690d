"""Sentence vectors, read only for the passages a question's candidates name.

A passage's dense score mixes its own cosine with its best sentence's, so a
search needs the sentence vectors of its ~100-200 candidate passages, never a
search over every sentence (there are three or four per passage: at a million
passages a sentence index alone would hold 2.5 GB). So sentence vectors are not
an index: they are rows, each passage's sentences in one run, stored as float16
(``numpy`` ``.npy``) in the segment that holds the passages and read run by run
with positioned reads. The file is not mapped into the process: what a search
read stays in the operating system's page cache, not in this process's memory.
Rows added since the last segment was read (an article added while serving)
are kept in memory.

float16 keeps a cosine within ~1e-3 of float32's, far below what separates two
passages' scores, and halves the file and the reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from index.errors import IndexCorruptError

DTYPE = np.dtype(np.float16)


def save_rows(path: Path, rows: np.ndarray) -> None:
    """Write sentence vectors as a float16 ``.npy`` file (the caller makes it atomic)."""
    np.save(path, np.ascontiguousarray(rows, dtype=DTYPE))


class _File:
    """One stored file of rows, read by positioned reads (safe from any thread)."""

    def __init__(self, path: Path, rows: int, dim: int) -> None:
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise IndexCorruptError(f"cannot read {path}: {exc.strerror or exc}") from None
        with handle:
            try:
                version = np.lib.format.read_magic(handle)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(handle)
            except ValueError as exc:
                raise IndexCorruptError(f"cannot read {path}: {exc}") from None
            self.offset = handle.tell()
        self.row_bytes = dim * DTYPE.itemsize
        if (shape != (rows, dim) or fortran or dtype != DTYPE
                or path.stat().st_size != self.offset + rows * self.row_bytes):
            raise IndexCorruptError(
                f"{path} holds {shape} {dtype} rows, not the ({rows}, {dim}) float16 "
                "rows its manifest says")
        self.path = path
        self.dim = dim
        self.fd = os.open(path, os.O_RDONLY)

    def read(self, first: int, count: int) -> np.ndarray:
        data = os.pread(self.fd, count * self.row_bytes, self.offset + first * self.row_bytes)
        if len(data) != count * self.row_bytes:
            raise IndexCorruptError(f"{self.path} was cut short while the index was open")
        return np.frombuffer(data, dtype=DTYPE).reshape(count, self.dim)

    def __del__(self) -> None:
        fd = getattr(self, "fd", None)
        if fd is not None:
            os.close(fd)


class SentenceRows:
    """Every passage's sentence vectors by row, in stored files and in memory."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._firsts: list[int] = []
        self._chunks: list[_File | np.ndarray] = []
        self._size = 0

    def size(self) -> int:
        """How many rows there are (dead passages' rows included: rows never move)."""
        return self._size

    def attach(self, path: Path, rows: int) -> None:
        """Append the ``rows`` rows that ``save_rows`` wrote to ``path``.

        Raises:
            IndexCorruptError: the file does not hold exactly those rows.
        """
        self._push(_File(path, rows, self.dim), rows)

    def add(self, rows: np.ndarray) -> None:
        """Append rows held in memory (float32 or float16, ``(n, dim)``)."""
        if len(rows):
            self._push(np.ascontiguousarray(rows, dtype=DTYPE), len(rows))

    def _push(self, chunk: _File | np.ndarray, rows: int) -> None:
        if rows:
            self._firsts.append(self._size)
            self._chunks.append(chunk)
            self._size += rows

    def runs(self, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """The rows ``starts[i] .. starts[i] + counts[i]`` for each ``i``, one after another,
        as float32. A run lies in one chunk (a passage's sentences are added together)."""
        out = np.empty((int(np.sum(counts)), self.dim), dtype=np.float32)
        chunk_of = np.searchsorted(self._firsts, starts, side="right") - 1
        at = 0
        for start, count, c in zip(starts.tolist(), counts.tolist(), chunk_of.tolist(),
                                   strict=True):
            if not count:
                continue
            chunk, first = self._chunks[c], start - self._firsts[c]
            out[at : at + count] = (chunk.read(first, count) if isinstance(chunk, _File)
                                    else chunk[first : first + count])
            at += count
        return out

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """Any rows (ascending runs are read together), as float32."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return np.zeros((0, self.dim), dtype=np.float32)
        # A run ends where the rows stop being consecutive or a chunk begins.
        firsts = np.asarray(self._firsts, dtype=np.int64)
        breaks = np.flatnonzero((np.diff(rows) != 1) | np.isin(rows[1:], firsts)) + 1
        starts = rows[np.concatenate([[0], breaks])]
        counts = np.diff(np.concatenate([[0], breaks, [len(rows)]]))
        return self.runs(starts, counts)
