"""The conversation log in one SQLite file: schema, migrations and every SQL statement.

aiosqlite runs SQLite in its own thread, so the event loop never waits on disk.
WAL mode lets the command line read (``citebot logs stats``) while the bot
writes. Schema changes are migrations numbered by ``PRAGMA user_version``; a
database from a newer citebot is refused rather than misread. Failures leave as
the backend seam's exceptions (``backend.Busy``, ``backend.RecordRefused``,
``LogStoreError``), judged by SQLite's error codes, not by message text.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from pathlib import Path

import aiosqlite

from index.errors import LogStoreError
from index.logs.backend import Busy, RecordRefused
from index.logs.records import (
    AnswerMessage,
    Feedback,
    Moderation,
    QuestionRecord,
    Record,
    Stats,
)
from index.logs.sql import filters, question_record

_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE questions (
        id TEXT PRIMARY KEY,
        asked_at TEXT NOT NULL,
        guild TEXT NOT NULL DEFAULT '',
        channel TEXT NOT NULL DEFAULT '',
        thread TEXT NOT NULL DEFAULT '',
        user TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL,
        mode TEXT NOT NULL,
        answered INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        model TEXT NOT NULL DEFAULT '',
        index_version TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE citations (
        question_id TEXT NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
        rank INTEGER NOT NULL,
        passage_id TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        score REAL NOT NULL,
        PRIMARY KEY (question_id, rank)
    );
    CREATE TABLE feedback (
        question_id TEXT NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
        user TEXT NOT NULL,
        helpful INTEGER NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (question_id, user)
    );
    CREATE TABLE moderation (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        guild TEXT NOT NULL DEFAULT '',
        user TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        doc_id TEXT NOT NULL DEFAULT '',
        result TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX questions_by_time ON questions(asked_at);
    CREATE INDEX questions_by_guild ON questions(guild, asked_at);
    CREATE INDEX questions_by_user ON questions(user);
    CREATE INDEX citations_by_doc ON citations(doc_id);
    CREATE INDEX feedback_by_user ON feedback(user);
    CREATE INDEX moderation_by_time ON moderation(at);
    """,
    # 2: follow-ups link to the question they continue; the answer's message id.
    """
    ALTER TABLE questions ADD COLUMN parent_id TEXT REFERENCES questions(id) ON DELETE SET NULL;
    ALTER TABLE questions ADD COLUMN message_id TEXT NOT NULL DEFAULT '';
    CREATE INDEX questions_by_parent ON questions(parent_id);
    CREATE INDEX questions_by_message ON questions(message_id);
    CREATE INDEX moderation_by_user ON moderation(user);
    CREATE INDEX questions_unanswered ON questions(answered, guild);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
SCHEMA_VERSION = len(MIGRATIONS)


class SqliteBackend:
    """The log in one SQLite database file (``logs.path``)."""

    def __init__(self, db: aiosqlite.Connection, path: Path, secret: str) -> None:
        self._db = db
        self.path = path
        self.where = str(path)
        self._secret = secret

    @classmethod
    async def open(cls, path: Path) -> SqliteBackend:
        """Open (creating or migrating) the database file.

        Raises:
            LogStoreError: the file is not an SQLite database, comes from a
                newer citebot, or cannot be created.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LogStoreError(
                f"cannot create the log folder {path.parent} ({exc.strerror or exc}); "
                "set logs.path to a writable place") from None
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise LogStoreError(f"cannot open the log database {path}: {exc}") from None
        try:
            secret = await _prepare(db, path)
        except BaseException:
            await db.close()
            raise
        return cls(db, path, secret)

    async def secret(self) -> str:
        """The key for hashing user ids, kept in the ``meta`` table."""
        return self._secret

    async def close(self) -> None:
        """Close the connection."""
        await self._db.close()

    # --- writing ------------------------------------------------------------------------

    async def write(self, records: Sequence[Record]) -> None:
        """One transaction for the batch; SQLite's refusals become the seam's exceptions."""
        try:
            await self._write(records)
        except sqlite3.IntegrityError as exc:
            await self._rollback()
            raise RecordRefused(str(exc)) from None
        except sqlite3.Error as exc:
            await self._rollback()
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _BUSY_CODES:
                raise Busy(str(exc)) from None
            raise LogStoreError(str(exc)) from None

    async def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # no transaction open: nothing to undo
            await self._db.execute("ROLLBACK")

    async def _write(self, records: Sequence[Record]) -> None:
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        questions = [r for r in records if isinstance(r, QuestionRecord)]
        if questions:
            await db.executemany(
                "INSERT INTO questions (id, asked_at, guild, channel, thread, user, text, mode,"
                " answered, latency_ms, model, index_version, parent_id, message_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(q.id, q.asked_at, q.guild, q.channel, q.thread, q.user, q.text, q.mode,
                  int(q.answered), q.latency_ms, q.model, q.index_version, q.parent_id,
                  q.message_id) for q in questions])
            await db.executemany(
                "INSERT INTO citations (question_id, rank, passage_id, doc_id, score)"
                " VALUES (?, ?, ?, ?, ?)",
                [(q.id, c.rank, c.passage_id, c.doc_id, float(c.score))
                 for q in questions for c in q.citations])
        for record in records:
            if isinstance(record, Feedback):
                await db.execute(
                    "INSERT INTO feedback (question_id, user, helpful, at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (question_id, user) DO UPDATE"
                    " SET helpful = excluded.helpful, at = excluded.at",
                    (record.question_id, record.user, int(record.helpful), record.at))
            elif isinstance(record, Moderation):
                await db.execute(
                    "INSERT INTO moderation (at, guild, user, action, target, doc_id, result,"
                    " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (record.at, record.guild, record.user, record.action, record.target,
                     record.doc_id, record.result, record.detail))
            elif isinstance(record, AnswerMessage):
                await db.execute(
                    "UPDATE questions SET message_id = ?, answered = EXISTS"
                    " (SELECT 1 FROM citations c WHERE c.question_id = questions.id)"
                    " WHERE id = ?", (record.message_id, record.question_id))
        await db.execute("COMMIT")

    # --- care ---------------------------------------------------------------------------

    async def purge(self, cutoff: str) -> int:
        """Delete what is older than ``cutoff`` in one transaction; count the questions."""
        async def work() -> int:
            cursor = await self._db.execute("DELETE FROM questions WHERE asked_at < ?", (cutoff,))
            await self._db.execute("DELETE FROM feedback WHERE at < ?", (cutoff,))
            await self._db.execute("DELETE FROM moderation WHERE at < ?", (cutoff,))
            return cursor.rowcount
        return await self._change(work)

    async def forget(self, users: Collection[str]) -> int:
        """Delete every row of these (stored) users in one transaction."""
        marks = ", ".join("?" * len(users))

        async def work() -> int:
            total = 0
            for table in ("questions", "feedback", "moderation"):
                cursor = await self._db.execute(
                    f"DELETE FROM {table} WHERE user IN ({marks})", tuple(users))
                total += cursor.rowcount
            return total
        return await self._change(work)

    async def _change(self, work: Callable[[], Awaitable[int]]) -> int:
        try:
            await self._db.execute("BEGIN IMMEDIATE")
            count = await work()
            await self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            await self._rollback()
            raise LogStoreError(f"could not change the log database {self.path}: {exc}") from None
        return count

    # --- reading ------------------------------------------------------------------------

    async def questions(self, since: str, guild: str) -> AsyncIterator[dict[str, object]]:
        """Questions with their citations (as JSON from SQLite) and vote counts."""
        where, args = _where(filters(since, guild, "q.asked_at", "q.guild"))
        query = (
            "SELECT q.id, q.asked_at, q.guild, q.channel, q.thread, q.user, q.text, q.mode,"
            " q.answered, q.latency_ms, q.model, q.index_version, q.parent_id, q.message_id,"
            " (SELECT COUNT(*) FROM feedback f WHERE f.question_id = q.id AND f.helpful = 1),"
            " (SELECT COUNT(*) FROM feedback f WHERE f.question_id = q.id AND f.helpful = 0),"
            " (SELECT json_group_array(json_object('rank', c.rank, 'passage_id', c.passage_id,"
            "   'doc_id', c.doc_id, 'score', c.score)) FROM"
            "   (SELECT * FROM citations WHERE question_id = q.id ORDER BY rank) c)"
            f" FROM questions q {where} ORDER BY q.asked_at, q.rowid"
        )
        try:
            async with self._db.execute(query, args) as cursor:
                async for row in cursor:
                    yield question_record(row, json.loads(row[16]))
        except sqlite3.Error as exc:
            raise LogStoreError(f"cannot read the log database {self.path}: {exc}") from None

    async def stats(self, since: str, guild: str, top: int) -> Stats:
        """The summary, one query per figure."""
        conditions = filters(since, guild, "q.asked_at", "q.guild")
        where, args = _where(conditions)
        stats = Stats()
        try:
            rows = await self._all(
                "SELECT substr(asked_at, 1, 10), COUNT(*), SUM(answered) FROM questions q"
                f" {where} GROUP BY 1 ORDER BY 1", args)
            stats.per_day = [(d, int(n), int(a or 0)) for d, n, a in rows]
            stats.questions = sum(n for _, n, _ in stats.per_day)
            stats.answered = sum(a for _, _, a in stats.per_day)
            stats.top_articles = [(d, int(n)) for d, n in await self._all(
                "SELECT c.doc_id, COUNT(*) FROM citations c JOIN questions q"
                f" ON q.id = c.question_id {where} GROUP BY c.doc_id"
                " ORDER BY 2 DESC, 1 LIMIT ?", (*args, top))]
            for helpful, n in await self._all(
                    "SELECT f.helpful, COUNT(*) FROM feedback f JOIN questions q"
                    f" ON q.id = f.question_id {where} GROUP BY f.helpful", args):
                if helpful:
                    stats.helpful = int(n)
                else:
                    stats.not_helpful = int(n)
            stats.slowest = [(float(ms), at, text) for ms, at, text in await self._all(
                f"SELECT latency_ms, asked_at, text FROM questions q {where}"
                " ORDER BY latency_ms DESC LIMIT ?", (*args, top))]
            # Found but not delivered (citations, no answer) is not a gap in the articles.
            gap_where, gap_args = _where([
                ("answered = 0", None),
                ("NOT EXISTS (SELECT 1 FROM citations c WHERE c.question_id = q.id)", None),
                *conditions])
            stats.gaps = [(text, int(n)) for text, n in await self._all(
                f"SELECT MIN(text), COUNT(*) FROM questions q {gap_where}"
                " GROUP BY lower(trim(text)) ORDER BY 2 DESC, MAX(asked_at) DESC"
                " LIMIT ?", (*gap_args, top))]
            mod_where, mod_args = _where(filters(since, guild, "at", "guild"))
            stats.moderation = int((await self._all(
                f"SELECT COUNT(*) FROM moderation {mod_where}", mod_args))[0][0])
        except sqlite3.Error as exc:
            raise LogStoreError(f"cannot read the log database {self.path}: {exc}") from None
        return stats

    async def lookup(self, column: str, value: str) -> dict[str, str] | None:
        """A question by id or by the message that carried its answer."""
        if column not in ("id", "message_id"):
            raise ValueError(f"cannot look a question up by {column!r}")
        rows = await self._all(
            f"SELECT id, text, guild, message_id FROM questions WHERE {column} = ? LIMIT 1",
            (value,))
        if not rows:
            return None
        return dict(zip(("id", "text", "guild", "message_id"), map(str, rows[0]), strict=True))

    async def feedback_of(self, question_id: str) -> dict[str, bool]:
        """The current votes on one answer."""
        rows = await self._all("SELECT user, helpful FROM feedback WHERE question_id = ?",
                               (question_id,))
        return {str(user): bool(helpful) for user, helpful in rows}

    async def _all(self, query: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]:
        async with self._db.execute(query, tuple(args)) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]


def _where(conditions: Sequence[tuple[str, object | None]]) -> tuple[str, tuple[object, ...]]:
    """A WHERE clause and its arguments (a condition with argument None takes none)."""
    if not conditions:
        return "", ()
    clause = "WHERE " + " AND ".join(c for c, _ in conditions)
    return clause, tuple(a for _, a in conditions if a is not None)


async def _prepare(db: aiosqlite.Connection, path: Path) -> str:
    """Check the file, set the pragmas, run pending migrations; return the hashing secret."""
    try:
        version = (await (await db.execute("PRAGMA user_version")).fetchone())[0]  # type: ignore[index]
    except sqlite3.DatabaseError:
        raise LogStoreError(
            f"{path} is not an SQLite database; move it aside (citebot will start a new "
            "log) or point logs.path elsewhere") from None
    if version > SCHEMA_VERSION:
        raise LogStoreError(
            f"the log {path} was written by a newer citebot (schema {version}, this one "
            f"knows {SCHEMA_VERSION}); upgrade citebot or point logs.path elsewhere")
    try:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("PRAGMA busy_timeout=5000")
        await db.execute("PRAGMA synchronous=NORMAL")
        for number in range(version, SCHEMA_VERSION):
            await migrate(db, number + 1)
        await db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('secret', ?)",
            (secrets.token_hex(32),))
        row = await (await db.execute("SELECT value FROM meta WHERE key = 'secret'")).fetchone()
    except sqlite3.Error as exc:
        raise LogStoreError(f"cannot prepare the log database {path}: {exc}") from None
    return str(row[0])  # type: ignore[index]


async def migrate(db: aiosqlite.Connection, number: int) -> None:
    """Apply migration ``number`` (1-based) and its ``user_version`` in one transaction."""
    await db.execute("BEGIN IMMEDIATE")
    try:
        for statement in MIGRATIONS[number - 1].split(";"):
            if statement.strip():
                await db.execute(statement)
        await db.execute(f"PRAGMA user_version = {number}")
        await db.execute("COMMIT")
    except BaseException:
        await db.execute("ROLLBACK")
        raise
