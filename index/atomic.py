"""Crash-safe file writes: write a temporary file, fsync it, rename it into place, fsync the folder.

After a crash at any moment the path holds either its old content or its new
content, never a mixture. Temporary files are named ``.<name>.tmp`` so that
loaders looking for ``*.md`` or ``gen-*`` never pick one up.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically and durably."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync(path.parent)


def fsync(path: Path) -> None:
    """Flush a file's or a folder's metadata and data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
