"""The seam between the recorder and a database: what any log backend must do.

``LogStore`` (the recorder) owns the queue, the batching, the retries and the
hashing of user ids; a backend owns one database and its SQL. SQLite is the one
backend today (``sqlite.py``); a server database plugs in beside it by
implementing this protocol. Backends signal the two write failures the recorder
treats specially with the exceptions below, never with database-specific ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from typing import Protocol

from index.logs.records import Record, Stats


class RecordRefused(Exception):
    """The database refused a record of the batch (say, a vote on a forgotten question).

    The recorder then writes the batch one record at a time, so one bad record
    costs only itself."""


class Busy(Exception):
    """The database is locked by another writer for now; the recorder retries."""


class LogBackend(Protocol):
    """One log database: write batches of records, care for them, read them back."""

    where: str
    """How messages name the database (a path, or a server without its password)."""

    async def secret(self) -> str:
        """The database's own key for hashing user ids (made on first use, then kept)."""
        ...

    async def write(self, records: Sequence[Record]) -> None:
        """Store a batch in one transaction, all or nothing.

        Raises:
            RecordRefused: a record was refused; nothing of the batch was written.
            Busy: the database is locked for now; nothing was written.
            LogStoreError: the database cannot be written (read-only, full, ...).
        """
        ...

    async def purge(self, cutoff: str) -> int:
        """Delete questions (with their rows), votes and actions before ``cutoff``.

        Returns how many questions went."""
        ...

    async def forget(self, users: Collection[str]) -> int:
        """Delete every row whose user is one of ``users``; how many went."""
        ...

    def questions(self, since: str, guild: str) -> AsyncIterator[dict[str, object]]:
        """Questions matching the filters, oldest first, with citations and vote counts."""
        ...

    async def stats(self, since: str, guild: str, top: int) -> Stats:
        """The summary ``citebot logs stats`` and /stats show."""
        ...

    async def lookup(self, column: str, value: str) -> dict[str, str] | None:
        """A question by ``id`` or ``message_id``: its id, text, guild and message id."""
        ...

    async def feedback_of(self, question_id: str) -> dict[str, bool]:
        """The current votes on one answer, by stored user."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...
