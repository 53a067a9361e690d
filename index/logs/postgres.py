"""The conversation log on a PostgreSQL server: schema, migrations and every SQL statement.

Why a server: one SQLite file serves the processes of one machine, but several
bot shards, the command line and a dashboard on other machines must share one
log; ``logs.url = "postgresql://..."`` points them all at one database. The
tables, columns and their meaning are SQLite's (``sqlite.py``), so both backends
give the same figures for the same rows:

* every text column collates bytewise (``COLLATE "C"``), as SQLite's BINARY
  does, so orders, comparisons of ISO times and ``lower()`` (ASCII only) agree;
* flags stay INTEGER 0/1 and REAL becomes DOUBLE PRECISION, so values round-trip;
* ``questions.seq`` keeps insertion order, which SQLite reads from its rowid;
* ``user`` is a reserved word here, so it is always quoted ``"user"``.

Schema changes are migrations numbered by ``meta.schema_version``, each applied
in one transaction with its version under an advisory lock, so two processes
opening a fresh database at once never both migrate. A database from a newer
citebot is refused rather than misread. Failures leave as the backend seam's
exceptions (``backend.Busy``, ``backend.RecordRefused``, ``LogStoreError``),
judged by PostgreSQL's error classes, not by message text.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections.abc import AsyncIterator, Collection, Sequence
from urllib.parse import urlsplit, urlunsplit

import asyncpg

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

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema (SQLite's migration 1, and seq for insertion order).
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE questions (
        id TEXT COLLATE "C" PRIMARY KEY,
        asked_at TEXT COLLATE "C" NOT NULL,
        guild TEXT COLLATE "C" NOT NULL DEFAULT '',
        channel TEXT COLLATE "C" NOT NULL DEFAULT '',
        thread TEXT COLLATE "C" NOT NULL DEFAULT '',
        "user" TEXT COLLATE "C" NOT NULL DEFAULT '',
        text TEXT COLLATE "C" NOT NULL,
        mode TEXT COLLATE "C" NOT NULL,
        answered INTEGER NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL,
        model TEXT COLLATE "C" NOT NULL DEFAULT '',
        index_version TEXT COLLATE "C" NOT NULL DEFAULT '',
        seq BIGSERIAL NOT NULL
    );
    CREATE TABLE citations (
        question_id TEXT COLLATE "C" NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
        rank INTEGER NOT NULL,
        passage_id TEXT COLLATE "C" NOT NULL,
        doc_id TEXT COLLATE "C" NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (question_id, rank)
    );
    CREATE TABLE feedback (
        question_id TEXT COLLATE "C" NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
        "user" TEXT COLLATE "C" NOT NULL,
        helpful INTEGER NOT NULL,
        at TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (question_id, "user")
    );
    CREATE TABLE moderation (
        id BIGSERIAL PRIMARY KEY,
        at TEXT COLLATE "C" NOT NULL,
        guild TEXT COLLATE "C" NOT NULL DEFAULT '',
        "user" TEXT COLLATE "C" NOT NULL DEFAULT '',
        action TEXT COLLATE "C" NOT NULL,
        target TEXT COLLATE "C" NOT NULL DEFAULT '',
        doc_id TEXT COLLATE "C" NOT NULL DEFAULT '',
        result TEXT COLLATE "C" NOT NULL,
        detail TEXT COLLATE "C" NOT NULL DEFAULT ''
    );
    CREATE INDEX questions_by_time ON questions(asked_at, seq);
    CREATE INDEX questions_by_guild ON questions(guild, asked_at);
    CREATE INDEX questions_by_user ON questions("user");
    CREATE INDEX citations_by_doc ON citations(doc_id);
    CREATE INDEX feedback_by_user ON feedback("user");
    CREATE INDEX moderation_by_time ON moderation(at);
    """,
    # 2: follow-ups link to the question they continue; the answer's message id.
    """
    ALTER TABLE questions ADD COLUMN parent_id TEXT COLLATE "C"
        REFERENCES questions(id) ON DELETE SET NULL;
    ALTER TABLE questions ADD COLUMN message_id TEXT COLLATE "C" NOT NULL DEFAULT '';
    CREATE INDEX questions_by_parent ON questions(parent_id);
    CREATE INDEX questions_by_message ON questions(message_id);
    CREATE INDEX moderation_by_user ON moderation("user");
    CREATE INDEX questions_unanswered ON questions(answered, guild);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for the server to answer before saying it cannot be reached."""
CLOSE_TIMEOUT = 10.0
"""Seconds ``close`` waits for connections in use (a read left half done) before cutting them."""
LOCK_TIMEOUT = "5s"
"""How long a write waits for another writer's lock before it counts as busy
(SQLite's ``busy_timeout``); the recorder then retries."""
_MIGRATION_LOCK = 0x63697465626F74  # "citebot": the advisory lock migrations take
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
"""What talking to the server can raise: its refusals, a lost connection, no answer."""


_KEY_TYPES = {"rank": "integer"}
"""Columns that identify copied rows and are not text."""

_TABLES = ("questions", "citations", "feedback", "moderation")


def _table(name: str) -> str:
    """One of the log's tables by name (never a name from outside the code)."""
    if name not in _TABLES:
        raise ValueError(f"not a table of the log: {name!r}")
    return name


class PostgresBackend:
    """The log in one PostgreSQL database (``logs.url``), shared by many processes."""

    def __init__(self, pool: asyncpg.Pool, where: str, secret: str) -> None:
        self._pool = pool
        self.where = where
        self._secret = secret

    @classmethod
    async def open(cls, url: str) -> PostgresBackend:
        """Connect to the database at ``url`` (``postgresql://user:pass@host:port/db``),
        run pending migrations and return the backend.

        Raises:
            LogStoreError: the server cannot be reached or refuses the login, the
                database comes from a newer citebot, or its tables cannot be made.
        """
        where = redact(url)
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=4, timeout=CONNECT_TIMEOUT,
                server_settings={"application_name": "citebot"})
        except (*_DB_ERRORS, ValueError) as exc:
            raise LogStoreError(
                f"cannot connect to the log database {where} ({_reason(exc, url)}); "
                f"{_connect_hint(exc)}") from None
        try:
            async with pool.acquire() as conn:
                secret = await _prepare(conn, where)
        except BaseException:
            pool.terminate()
            raise
        return cls(pool, where, secret)

    async def secret(self) -> str:
        """The key for hashing user ids, kept in the ``meta`` table."""
        return self._secret

    # --- copying a log in (index.logs.migrate) ----------------------------------------

    async def adopt_secret(self, secret: str) -> None:
        """Take another log's hashing secret, so its hashed user ids keep matching.

        Raises:
            LogStoreError: this log already holds questions under another secret.
        """
        if secret == self._secret:
            return
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM questions)"):
                    raise LogStoreError(
                        f"{self.where} already holds another log's questions, whose user ids "
                        "were hashed with another secret; copy into an empty database")
                await conn.execute("UPDATE meta SET value = $1 WHERE key = 'secret'", secret)
        except _DB_ERRORS as exc:
            raise LogStoreError(f"cannot write the log database {self.where}: "
                                f"{_reason(exc)}") from None
        self._secret = secret

    async def import_rows(self, table: str, columns: Sequence[str], key: Sequence[str],
                          rows: Sequence[tuple[object, ...]]) -> None:
        """Insert rows copied from another log, keeping any row already here (by ``key``)."""
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
        if tuple(key) == tuple(columns):  # no key of its own: the same row is not copied twice
            same = " AND ".join(f'"{c}" = ${n}' for n, c in enumerate(columns, start=1))
            query = (f"INSERT INTO {_table(table)} ({names}) SELECT {marks}"
                     f" WHERE NOT EXISTS (SELECT 1 FROM {_table(table)} WHERE {same})")
        else:
            query = (f"INSERT INTO {_table(table)} ({names}) VALUES ({marks})"
                     " ON CONFLICT DO NOTHING")
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.executemany(query, rows)
        except _DB_ERRORS as exc:
            raise LogStoreError(f"cannot copy rows into {self.where}: {_reason(exc)}") from None

    async def count_present(self, table: str, key: Sequence[str],
                            keys: Sequence[tuple[object, ...]]) -> int:
        """How many of ``keys`` (values of the ``key`` columns) are rows of ``table``."""
        if not keys:
            return 0
        types = [_KEY_TYPES.get(column, "text") for column in key]
        arrays = [[row[i] for row in keys] for i in range(len(key))]
        unnest = ", ".join(f"${n}::{t}[]" for n, t in enumerate(types, start=1))
        names = ", ".join(f"k{n}" for n in range(len(key)))
        join = " AND ".join(f't."{c}" = k.k{n}' for n, c in enumerate(key))
        query = (f"SELECT COUNT(*) FROM unnest({unnest}) AS k({names})"
                 f" WHERE EXISTS (SELECT 1 FROM {_table(table)} t WHERE {join})")
        try:
            async with self._pool.acquire() as conn:
                return int(await conn.fetchval(query, *arrays))
        except _DB_ERRORS as exc:
            raise LogStoreError(f"cannot read {self.where}: {_reason(exc)}") from None

    async def close(self) -> None:
        """Close every connection: the ones in use get a few seconds to be released."""
        try:
            await asyncio.wait_for(self._pool.close(), CLOSE_TIMEOUT)
        except TimeoutError:
            self._pool.terminate()

    # --- writing ------------------------------------------------------------------------

    async def write(self, records: Sequence[Record]) -> None:
        """One transaction for the batch; PostgreSQL's refusals become the seam's exceptions.

        A value the server cannot store (a NUL character in an id, say) is a
        refused record too, so it costs only itself, as a constraint violation does.
        """
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await _wait_briefly(conn)
                await _write(conn, records)
        except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError) as exc:
            raise RecordRefused(str(exc)) from None
        except (asyncpg.TransactionRollbackError, asyncpg.LockNotAvailableError) as exc:
            raise Busy(str(exc)) from None  # serialization failure, deadlock, lock timeout
        except _DB_ERRORS as exc:
            raise LogStoreError(_reason(exc)) from None

    # --- care ---------------------------------------------------------------------------

    async def purge(self, cutoff: str) -> int:
        """Delete what is older than ``cutoff`` in one transaction; count the questions."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await _wait_briefly(conn)
                status = await conn.execute("DELETE FROM questions WHERE asked_at < $1", cutoff)
                await conn.execute("DELETE FROM feedback WHERE at < $1", cutoff)
                await conn.execute("DELETE FROM moderation WHERE at < $1", cutoff)
        except _DB_ERRORS as exc:
            raise LogStoreError(
                f"could not change the log database {self.where}: {_reason(exc)}") from None
        return _count(status)

    async def forget(self, users: Collection[str]) -> int:
        """Delete every row of these (stored) users in one transaction."""
        total = 0
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await _wait_briefly(conn)
                for table in ("questions", "feedback", "moderation"):
                    total += _count(await conn.execute(
                        f'DELETE FROM {table} WHERE "user" = ANY($1::text[])', list(users)))
        except _DB_ERRORS as exc:
            raise LogStoreError(
                f"could not change the log database {self.where}: {_reason(exc)}") from None
        return total

    # --- reading ------------------------------------------------------------------------

    async def questions(self, since: str, guild: str) -> AsyncIterator[dict[str, object]]:
        """Questions with their citations (as JSON from the server) and vote counts."""
        where, args = _where(filters(since, guild, "q.asked_at", "q.guild"))
        query = (
            'SELECT q.id, q.asked_at, q.guild, q.channel, q.thread, q."user", q.text, q.mode,'
            " q.answered, q.latency_ms, q.model, q.index_version, q.parent_id, q.message_id,"
            " (SELECT COUNT(*) FROM feedback f WHERE f.question_id = q.id AND f.helpful = 1),"
            " (SELECT COUNT(*) FROM feedback f WHERE f.question_id = q.id AND f.helpful = 0),"
            " (SELECT json_agg(json_build_object('rank', c.rank, 'passage_id', c.passage_id,"
            "   'doc_id', c.doc_id, 'score', c.score) ORDER BY c.rank)"
            "   FROM citations c WHERE c.question_id = q.id)"
            f" FROM questions q {where} ORDER BY q.asked_at, q.seq"
        )
        try:
            async with self._pool.acquire() as conn, conn.transaction(readonly=True):
                async for row in conn.cursor(query, *args, prefetch=500):
                    yield question_record(row, _citations(row[16]))
        except _DB_ERRORS as exc:
            raise LogStoreError(
                f"cannot read the log database {self.where}: {_reason(exc)}") from None

    async def stats(self, since: str, guild: str, top: int) -> Stats:
        """The summary, one query per figure (SQLite's queries, numbered parameters)."""
        conditions = filters(since, guild, "q.asked_at", "q.guild")
        where, args = _where(conditions)
        limit = top if top >= 0 else None  # SQLite reads a negative LIMIT as none
        stats = Stats()
        try:
            async with self._pool.acquire() as conn, conn.transaction(readonly=True):
                rows = await conn.fetch(
                    "SELECT substr(asked_at, 1, 10), COUNT(*), SUM(answered) FROM questions q"
                    f" {where} GROUP BY 1 ORDER BY 1", *args)
                stats.per_day = [(d, int(n), int(a or 0)) for d, n, a in rows]
                stats.questions = sum(n for _, n, _ in stats.per_day)
                stats.answered = sum(a for _, _, a in stats.per_day)
                stats.top_articles = [(d, int(n)) for d, n in await conn.fetch(
                    "SELECT c.doc_id, COUNT(*) FROM citations c JOIN questions q"
                    f" ON q.id = c.question_id {where} GROUP BY c.doc_id"
                    f" ORDER BY 2 DESC, 1 LIMIT ${len(args) + 1}", *args, limit)]
                for helpful, n in await conn.fetch(
                        "SELECT f.helpful, COUNT(*) FROM feedback f JOIN questions q"
                        f" ON q.id = f.question_id {where} GROUP BY f.helpful", *args):
                    if helpful:
                        stats.helpful = int(n)
                    else:
                        stats.not_helpful = int(n)
                stats.slowest = [(float(ms), at, text) for ms, at, text in await conn.fetch(
                    f"SELECT latency_ms, asked_at, text FROM questions q {where}"
                    f" ORDER BY latency_ms DESC LIMIT ${len(args) + 1}", *args, limit)]
                # Found but not delivered (citations, no answer) is not a gap in the articles.
                gap_where, gap_args = _where([
                    ("answered = 0", None),
                    ("NOT EXISTS (SELECT 1 FROM citations c WHERE c.question_id = q.id)", None),
                    *conditions])
                stats.gaps = [(text, int(n)) for text, n in await conn.fetch(
                    f"SELECT MIN(text), COUNT(*) FROM questions q {gap_where}"
                    " GROUP BY lower(trim(text)) ORDER BY 2 DESC, MAX(asked_at) DESC"
                    f" LIMIT ${len(gap_args) + 1}", *gap_args, limit)]
                mod_where, mod_args = _where(filters(since, guild, "at", "guild"))
                stats.moderation = int(await conn.fetchval(
                    f"SELECT COUNT(*) FROM moderation {mod_where}", *mod_args))
        except _DB_ERRORS as exc:
            raise LogStoreError(
                f"cannot read the log database {self.where}: {_reason(exc)}") from None
        return stats

    async def lookup(self, column: str, value: str) -> dict[str, str] | None:
        """A question by id or by the message that carried its answer."""
        if column not in ("id", "message_id"):
            raise ValueError(f"cannot look a question up by {column!r}")
        rows = await self._fetch(
            f"SELECT id, text, guild, message_id FROM questions WHERE {column} = $1 LIMIT 1",
            value)
        if not rows:
            return None
        return dict(zip(("id", "text", "guild", "message_id"), map(str, rows[0]), strict=True))

    async def feedback_of(self, question_id: str) -> dict[str, bool]:
        """The current votes on one answer."""
        rows = await self._fetch('SELECT "user", helpful FROM feedback WHERE question_id = $1',
                                 question_id)
        return {str(user): bool(helpful) for user, helpful in rows}

    async def _fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        try:
            async with self._pool.acquire() as conn:
                return await conn.fetch(query, *args)
        except _DB_ERRORS as exc:
            raise LogStoreError(
                f"cannot read the log database {self.where}: {_reason(exc)}") from None


async def _write(conn: asyncpg.Connection, records: Sequence[Record]) -> None:
    """The batch's statements, in SQLite's order: questions and citations, then the rest
    in the order queued (consecutive records of one kind sent together)."""
    questions = [r for r in records if isinstance(r, QuestionRecord)]
    if questions:
        await conn.executemany(
            'INSERT INTO questions (id, asked_at, guild, channel, thread, "user", text, mode,'
            " answered, latency_ms, model, index_version, parent_id, message_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            [(q.id, q.asked_at, q.guild, q.channel, q.thread, q.user, q.text, q.mode,
              int(q.answered), float(q.latency_ms), q.model, q.index_version, q.parent_id,
              q.message_id) for q in questions])
        citations = [(q.id, int(c.rank), c.passage_id, c.doc_id, float(c.score))
                     for q in questions for c in q.citations]
        if citations:
            await conn.executemany(
                "INSERT INTO citations (question_id, rank, passage_id, doc_id, score)"
                " VALUES ($1, $2, $3, $4, $5)", citations)
    others = [r for r in records if not isinstance(r, QuestionRecord)]
    for kind, run in itertools.groupby(others, key=type):
        group = list(run)
        if kind is Feedback:
            await conn.executemany(
                'INSERT INTO feedback (question_id, "user", helpful, at) VALUES ($1, $2, $3, $4)'
                ' ON CONFLICT (question_id, "user") DO UPDATE'
                " SET helpful = excluded.helpful, at = excluded.at",
                [(f.question_id, f.user, int(f.helpful), f.at)
                 for f in group if isinstance(f, Feedback)])
        elif kind is Moderation:
            await conn.executemany(
                'INSERT INTO moderation (at, guild, "user", action, target, doc_id, result,'
                " detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                [(m.at, m.guild, m.user, m.action, m.target, m.doc_id, m.result, m.detail)
                 for m in group if isinstance(m, Moderation)])
        elif kind is AnswerMessage:
            await conn.executemany(
                "UPDATE questions SET message_id = $1, answered = (EXISTS"
                " (SELECT 1 FROM citations c WHERE c.question_id = questions.id))::integer"
                " WHERE id = $2",
                [(a.message_id, a.question_id) for a in group if isinstance(a, AnswerMessage)])


def _citations(value: str | None) -> list[dict[str, object]]:
    """The JSON array of a question's citations, typed as SQLite's come back
    (PostgreSQL writes a score of 1.0 as ``1``)."""
    return [{"rank": int(c["rank"]), "passage_id": c["passage_id"], "doc_id": c["doc_id"],
             "score": float(c["score"])} for c in json.loads(value or "[]")]


def _count(status: str) -> int:
    """The row count of a command status such as ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[-1])


def _where(conditions: Sequence[tuple[str, object | None]]) -> tuple[str, tuple[object, ...]]:
    """A WHERE clause with numbered parameters ($1, $2, ...) and their arguments.

    A condition with argument None takes none; the others hold one ``?`` each
    (conditions are this module's own text, never a caller's)."""
    if not conditions:
        return "", ()
    parts: list[str] = []
    args: list[object] = []
    for condition, arg in conditions:
        if arg is not None:
            args.append(arg)
            condition = condition.replace("?", f"${len(args)}")
        parts.append(condition)
    return "WHERE " + " AND ".join(parts), tuple(args)


def redact(url: str) -> str:
    """The URL as messages may show it: any password (in the URL or its query) removed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.partition(":")[0] + "://(unreadable URL)"
    userinfo, at, hosts = parts.netloc.rpartition("@")
    netloc = f"{userinfo.partition(':')[0]}@{hosts}" if at else hosts
    query = "&".join(pair for pair in parts.query.split("&")
                     if pair and "password" not in pair.partition("=")[0].lower())
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _reason(exc: BaseException, url: str = "") -> str:
    """An exception as one line of a message, never showing the URL's password."""
    text = str(exc).strip()
    if not text:
        text = (f"no answer within {CONNECT_TIMEOUT:g} s" if isinstance(exc, TimeoutError)
                else type(exc).__name__)
    if url:
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            text = text.replace(password, "***")
    return " ".join(text.split())


def _connect_hint(exc: BaseException) -> str:
    """What to check when connecting failed, by the kind of failure."""
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return "create the database (createdb NAME) or fix its name in logs.url"
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return "check the user and password in logs.url and the server's pg_hba.conf"
    return ("check that the PostgreSQL server is running and reachable from here, and that "
            "logs.url names it as postgresql://user:password@host:port/database")


async def _wait_briefly(conn: asyncpg.Connection) -> None:
    """In a writing transaction: wait ``LOCK_TIMEOUT`` for another writer's lock, then fail
    (as Busy). Set per transaction, since the pool resets a connection's settings."""
    await conn.execute("SELECT set_config('lock_timeout', $1, true)", LOCK_TIMEOUT)


async def _version(conn: asyncpg.Connection) -> int:
    """The schema version (0 for a database without citebot's tables)."""
    if await conn.fetchval("SELECT to_regclass('meta')") is None:
        return 0
    value = await conn.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
    return int(value) if value is not None and str(value).isdigit() else 0


async def _prepare(conn: asyncpg.Connection, where: str) -> str:
    """Run pending migrations (one at a time, under the lock); return the hashing secret."""
    try:
        while True:
            async with conn.transaction():
                # Migrations can wait for another process's; ordinary writes do not.
                await conn.execute("SET LOCAL lock_timeout = '60s'")
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                version = await _version(conn)
                if version > SCHEMA_VERSION:
                    raise LogStoreError(
                        f"the log {where} was written by a newer citebot (schema {version}, "
                        f"this one knows {SCHEMA_VERSION}); upgrade citebot or point logs.url "
                        "elsewhere")
                if version < SCHEMA_VERSION:
                    await migrate(conn, version + 1)
                    continue
                await conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('secret', $1)"
                    " ON CONFLICT (key) DO NOTHING", secrets.token_hex(32))
                return str(await conn.fetchval("SELECT value FROM meta WHERE key = 'secret'"))
    except _DB_ERRORS as exc:
        raise LogStoreError(
            f"cannot prepare the log database {where}: {_reason(exc)}; if the database holds "
            "another program's tables, point logs.url at a database of citebot's own") from None


async def migrate(conn: asyncpg.Connection, number: int) -> None:
    """Apply migration ``number`` (1-based) and its ``schema_version`` in one transaction,
    under the advisory lock that keeps two processes from migrating at once."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(MIGRATIONS[number - 1])
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', $1)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value", str(number))
