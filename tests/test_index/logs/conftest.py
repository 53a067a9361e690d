"""The log's databases for tests: an SQLite file, or a fresh database on one real PostgreSQL.

The PostgreSQL server and its per-test databases are ``tests/postgres.py``'s.
``log_db`` runs a test once per backend (ids ``sqlite`` and ``postgresql``)
through the same small interface.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from index.config import LogSettings
from index.logs.recorder import LogStore
from tests.postgres import in_thread, pg_execute, with_database  # noqa: F401


@dataclass(frozen=True)
class LogDb:
    """One log database under test, SQLite or PostgreSQL, as the tests need to reach it."""

    kind: str
    url: str
    path: Path | None = None

    async def open(self, settings: LogSettings | None = None) -> LogStore:
        """A LogStore on this database, opened by URL as the configuration would."""
        return await LogStore.connect(self.url, settings)

    def at(self, path: Path) -> LogDb:
        """The same kind at another SQLite file (PostgreSQL has no file: unchanged)."""
        return replace(self, url=f"sqlite:///{path}", path=path) if self.path else self

    @property
    def insertion(self) -> str:
        """The column that orders questions as they were written."""
        return "rowid" if self.path else "seq"

    def rows(self, query: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run one statement (``?`` marks its arguments) directly on the database."""
        if self.path is not None:
            with sqlite3.connect(self.path) as db:
                return db.execute(query, args).fetchall()
        numbered = iter(range(1, len(args) + 1))
        query = re.sub(r"\?", lambda _: f"${next(numbered)}", query)
        return in_thread(pg_execute(self.url, query, *args))


@pytest.fixture(params=["sqlite", "postgresql"])
def log_db(request: pytest.FixtureRequest, tmp_path: Path) -> LogDb:
    """The test's log database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "logs.sqlite"
        return LogDb("sqlite", f"sqlite:///{path}", path)
    return LogDb("postgresql", request.getfixturevalue("pg_url"))
