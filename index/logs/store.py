"""The conversation log: questions, the citations shown, feedback and moderation, in SQLite.

One database file, written with aiosqlite (SQLite runs in its own thread, so
the event loop never waits on disk). The command line and the bot share it;
nothing here knows about Discord.

Why a queue: logging must never slow an answer. ``question``, ``feedback``
and ``moderation`` only put a record on a queue and return at once (a
question's id is made here, so a caller can put it in a button before the row
is written). One writer task drains the queue in batches, one transaction per
batch. ``close`` flushes everything that was queued. When the database is
locked, read-only or full, the writer logs a warning and the caller's answer
still goes out; a record the database refuses (say, feedback on a question
that was forgotten) is dropped alone, never its whole batch.

"Answered" means the asker received citations: the bot logs a question before
its answer is sent, as not answered but with the citations found, and
``answer_message`` marks it answered once Discord confirms the message. A row
with citations that is not answered was found but never delivered (a failed
send, a crash); it is not a coverage gap.

Schema changes are migrations numbered by ``PRAGMA user_version``; a database
from a newer citebot is refused rather than misread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiosqlite

from index.config import LogSettings
from index.errors import LogStoreError

if TYPE_CHECKING:
    from index.retrieval import Answer

log = logging.getLogger(__name__)

MODES = ("slash", "mention", "context_menu", "channel", "command_line", "follow_up",
         "annotation", "dm", "source_request")
"""How a question was asked: ``context_menu`` is Find sources, ``source_request`` an
"@citebot source?" in reply to someone's message, ``dm`` a direct message."""
MAX_TEXT = 4000
"""Longer question text is stored cut to this many characters (and marked so)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

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



@dataclass(frozen=True)
class CitationRecord:
    """One citation shown with an answer."""

    rank: int
    passage_id: str
    doc_id: str
    score: float


@dataclass(frozen=True)
class QuestionRecord:
    """One question and how it was answered."""

    id: str
    asked_at: str
    text: str
    mode: str
    answered: bool
    latency_ms: float
    guild: str = ""
    channel: str = ""
    thread: str = ""
    user: str = ""
    model: str = ""
    index_version: str = ""
    parent_id: str | None = None
    message_id: str = ""
    citations: tuple[CitationRecord, ...] = ()


@dataclass(frozen=True)
class _Feedback:
    question_id: str
    user: str
    helpful: bool
    at: str


@dataclass(frozen=True)
class _Moderation:
    at: str
    guild: str
    user: str
    action: str
    target: str
    doc_id: str
    result: str
    detail: str


@dataclass(frozen=True)
class _AnswerMessage:
    question_id: str
    message_id: str


@dataclass
class Stats:
    """What ``citebot logs stats`` and the bot's /stats show."""

    questions: int = 0
    answered: int = 0
    per_day: list[tuple[str, int, int]] = field(default_factory=list)
    """(day, questions, answered)"""
    top_articles: list[tuple[str, int]] = field(default_factory=list)
    helpful: int = 0
    not_helpful: int = 0
    slowest: list[tuple[float, str, str]] = field(default_factory=list)
    """(latency ms, asked at, question)"""
    gaps: list[tuple[str, int]] = field(default_factory=list)
    """The questions most often left unanswered (nothing relevant found), with how often."""
    moderation: int = 0

    @property
    def answered_rate(self) -> float:
        """Share of questions whose citations reached the asker."""
        return self.answered / self.questions if self.questions else 0.0

    @property
    def helpful_ratio(self) -> float | None:
        """Share of votes that said helpful (None without votes)."""
        votes = self.helpful + self.not_helpful
        return self.helpful / votes if votes else None

    def to_json(self) -> dict[str, object]:
        """A JSON-ready summary."""
        return {
            "questions": self.questions,
            "answered": self.answered,
            "answered_rate": round(self.answered_rate, 4),
            "per_day": [{"day": d, "questions": q, "answered": a} for d, q, a in self.per_day],
            "top_articles": [{"doc_id": d, "citations": n} for d, n in self.top_articles],
            "helpful_votes": self.helpful,
            "not_helpful_votes": self.not_helpful,
            "helpful_ratio": None if self.helpful_ratio is None else round(self.helpful_ratio, 4),
            "slowest": [{"latency_ms": round(ms, 1), "asked_at": at, "question": q}
                        for ms, at, q in self.slowest],
            "coverage_gaps": [{"question": q, "times": n} for q, n in self.gaps],
            "moderation_actions": self.moderation,
        }


def utc_now() -> str:
    """The current UTC time as ISO 8601 (what every ``at`` column holds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """Control characters and NULs removed; text over ``limit`` cut and marked."""
    text = _CONTROL.sub("", text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


Record = QuestionRecord | _Feedback | _Moderation | _AnswerMessage


class LogStore:
    """The async log store. Open with ``await LogStore.open(...)``, end with ``close``."""

    def __init__(self, db: aiosqlite.Connection, path: Path, settings: LogSettings,
                 secret: str) -> None:
        self._db = db
        self.path = path
        self.settings = settings
        self._secret = secret.encode()
        self._queue: asyncio.Queue[Record | None] = asyncio.Queue(settings.queue_size)
        self._writer: asyncio.Task[None] | None = None
        self.dropped = 0
        self.written = 0

    @classmethod
    async def open(cls, path: Path, settings: LogSettings | None = None) -> LogStore:
        """Open (creating or migrating) the database and start the writer.

        Raises:
            LogStoreError: the file is not an SQLite database, comes from a
                newer citebot, or cannot be created.
        """
        settings = settings or LogSettings()
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
        store = cls(db, path, settings, secret)
        if settings.retention_days:
            await store.purge(settings.retention_days)
        store._writer = asyncio.create_task(store._write_forever(), name="citebot-log-writer")
        return store

    # --- recording: never blocks, never raises -------------------------------------------

    def question(
        self,
        text: str,
        *,
        mode: str,
        answered: bool,
        latency_ms: float,
        citations: Iterable[CitationRecord] = (),
        guild: str = "",
        channel: str = "",
        thread: str = "",
        user: str = "",
        model: str = "",
        index_version: str = "",
        parent_id: str | None = None,
        message_id: str = "",
    ) -> str:
        """Queue a question for the log and return its id at once."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        record = QuestionRecord(
            id=uuid.uuid4().hex, asked_at=utc_now(), text=clean_text(text), mode=mode,
            answered=answered, latency_ms=float(latency_ms), guild=str(guild),
            channel=str(channel), thread=str(thread), user=self.user_key(str(user)),
            model=model, index_version=index_version, parent_id=parent_id,
            message_id=str(message_id), citations=tuple(citations),
        )
        self._put(record)
        return record.id

    def answer_message(self, question_id: str, message_id: str) -> None:
        """Record that a question's answer was delivered, and in which message.

        The bot logs a question before its answer is sent, as not answered; this
        marks it answered (if it has citations), so a send that failed or never
        happened (a crash, a shutdown) never counts as an answer.
        """
        self._put(_AnswerMessage(question_id, str(message_id)))

    def feedback(self, question_id: str, user: str, helpful: bool) -> None:
        """Queue a vote; a user's later vote on the same answer replaces the earlier one."""
        self._put(_Feedback(question_id, self.user_key(str(user)), helpful, utc_now()))

    def moderation(self, action: str, result: str, *, user: str = "", guild: str = "",
                   target: str = "", doc_id: str = "", detail: str = "") -> None:
        """Queue a moderation action (add, remove, ...) and its result (done, refused)."""
        self._put(_Moderation(utc_now(), str(guild), self.user_key(str(user)), action,
                              clean_text(target, 1000), doc_id, result,
                              clean_text(detail, 1000)))

    def user_key(self, user: str) -> str:
        """How a user id is stored: as given, or as a keyed hash when so configured."""
        if not user or not self.settings.hash_user_ids:
            return user
        return "h:" + hmac.new(self._secret, user.encode(), hashlib.sha256).hexdigest()[:32]

    def _put(self, record: Record) -> None:
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                log.warning("the log queue is full; %d records dropped so far", self.dropped)

    # --- writing ------------------------------------------------------------------------

    async def flush(self) -> None:
        """Wait until everything queued so far is written (or given up on)."""
        await self._queue.join()

    async def close(self) -> None:
        """Write everything queued, stop the writer and close the database."""
        if self._writer is not None and not self._writer.done():
            await self._queue.put(None)
            await self._writer
        self._writer = None
        await self._db.close()

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 1000:
                batch.append(self._queue.get_nowait())
            records = [r for r in batch if r is not None]
            try:
                if records:
                    await self._write(records)
            except Exception:  # the writer must outlive any one bad batch
                log.exception("could not write %d log records", len(records))
            finally:
                for _ in batch:
                    self._queue.task_done()
            if len(records) != len(batch):
                return

    async def _write(self, records: list[Record]) -> None:
        for attempt in range(3):
            try:
                await self._write_batch(records)
                self.written += len(records)
                return
            except sqlite3.IntegrityError:
                await self._rollback()
                break  # one refused record: write them one by one below
            except sqlite3.OperationalError as exc:
                await self._rollback()
                if "locked" in str(exc) or "busy" in str(exc):
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
                log.warning("could not write %d log records to %s (%s); answers go on",
                            len(records), self.path, exc)
                return
            except sqlite3.Error as exc:
                await self._rollback()
                log.warning("could not write %d log records to %s (%s); answers go on",
                            len(records), self.path, exc)
                return
        else:
            log.warning("the log database %s stayed locked; %d records not written",
                        self.path, len(records))
            return
        for record in records:
            try:
                await self._write_batch([record])
                self.written += 1
            except sqlite3.Error as exc:
                await self._rollback()
                log.warning("a log record was refused (%s): %s", exc, type(record).__name__)

    async def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            await self._db.execute("ROLLBACK")

    async def _write_batch(self, records: Sequence[Record]) -> None:
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
            if isinstance(record, _Feedback):
                await db.execute(
                    "INSERT INTO feedback (question_id, user, helpful, at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (question_id, user) DO UPDATE"
                    " SET helpful = excluded.helpful, at = excluded.at",
                    (record.question_id, record.user, int(record.helpful), record.at))
            elif isinstance(record, _Moderation):
                await db.execute(
                    "INSERT INTO moderation (at, guild, user, action, target, doc_id, result,"
                    " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (record.at, record.guild, record.user, record.action, record.target,
                     record.doc_id, record.result, record.detail))
            elif isinstance(record, _AnswerMessage):
                await db.execute(
                    "UPDATE questions SET message_id = ?, answered = EXISTS"
                    " (SELECT 1 FROM citations c WHERE c.question_id = questions.id)"
                    " WHERE id = ?", (record.message_id, record.question_id))
        await db.execute("COMMIT")

    # --- care ---------------------------------------------------------------------------

    async def purge(self, days: int) -> int:
        """Delete questions (with their citations and votes) and actions older than ``days``."""
        cutoff = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds")
        async with self._transaction():
            cursor = await self._db.execute("DELETE FROM questions WHERE asked_at < ?", (cutoff,))
            removed = cursor.rowcount
            await self._db.execute("DELETE FROM feedback WHERE at < ?", (cutoff,))
            await self._db.execute("DELETE FROM moderation WHERE at < ?", (cutoff,))
        if removed:
            log.info("deleted %d questions older than %d days from the log", removed, days)
        return removed

    async def forget(self, user: str) -> int:
        """Delete every row about a user (as given or hashed); returns how many went."""
        await self.flush()
        keys = {user, "h:" + hmac.new(self._secret, user.encode(),
                                      hashlib.sha256).hexdigest()[:32]}
        marks = ", ".join("?" * len(keys))
        total = 0
        async with self._transaction():
            for table in ("questions", "feedback", "moderation"):
                cursor = await self._db.execute(
                    f"DELETE FROM {table} WHERE user IN ({marks})", tuple(keys))
                total += cursor.rowcount
        return total

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        try:
            await self._db.execute("BEGIN IMMEDIATE")
            yield
            await self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            await self._rollback()
            raise LogStoreError(f"could not change the log database {self.path}: {exc}") from None

    # --- reading ------------------------------------------------------------------------

    async def questions(self, since: str = "", guild: str = "") -> AsyncIterator[dict[str, object]]:
        """Logged questions matching the filters, oldest first, with citations and votes.

        This is what ``citebot logs export`` writes, one record per question.
        """
        where, args = _filters(since, guild)
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
                    yield {
                        "id": row[0], "asked_at": row[1], "guild": row[2], "channel": row[3],
                        "thread": row[4], "user": row[5], "text": row[6], "mode": row[7],
                        "answered": bool(row[8]), "latency_ms": row[9], "model": row[10],
                        "index_version": row[11], "parent_id": row[12], "message_id": row[13],
                        "helpful_votes": row[14], "not_helpful_votes": row[15],
                        "citations": json.loads(row[16]),
                    }
        except sqlite3.Error as exc:
            raise LogStoreError(f"cannot read the log database {self.path}: {exc}") from None

    async def stats(self, since: str = "", guild: str = "", top: int = 5) -> Stats:
        """The summary: volume, answered rate, top articles, votes, slowest, coverage gaps."""
        await self.flush()  # what was asked a moment ago counts
        where, args = _filters(since, guild)
        and_where = where.replace("WHERE", "AND") if where else ""
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
            stats.gaps = [(text, int(n)) for text, n in await self._all(
                "SELECT MIN(text), COUNT(*) FROM questions q WHERE answered = 0"
                # found but not delivered (citations, no answer): not a gap in the articles
                " AND NOT EXISTS (SELECT 1 FROM citations c WHERE c.question_id = q.id)"
                f" {and_where} GROUP BY lower(trim(text)) ORDER BY 2 DESC, MAX(asked_at) DESC"
                " LIMIT ?", (*args, top))]
            mod_where = where.replace("q.asked_at", "at").replace("q.guild", "guild")
            stats.moderation = int((await self._all(
                f"SELECT COUNT(*) FROM moderation {mod_where}", args))[0][0])
        except sqlite3.Error as exc:
            raise LogStoreError(f"cannot read the log database {self.path}: {exc}") from None
        return stats

    async def lookup(self, question_id: str = "", message_id: str = "") -> dict[str, str] | None:
        """A logged question by its id or by the message that carried its answer.

        The bot uses it to page an answer or follow a thread after a restart.
        """
        await self.flush()
        column, value = ("id", question_id) if question_id else ("message_id", message_id)
        if not value:
            return None
        rows = await self._all(
            f"SELECT id, text, guild, message_id FROM questions WHERE {column} = ? LIMIT 1",
            (value,))
        if not rows:
            return None
        return dict(zip(("id", "text", "guild", "message_id"), map(str, rows[0]), strict=True))

    async def feedback_of(self, question_id: str) -> dict[str, bool]:
        """The current votes on one answer, by (stored) user."""
        rows = await self._all("SELECT user, helpful FROM feedback WHERE question_id = ?",
                               (question_id,))
        return {user: bool(helpful) for user, helpful in rows}

    async def vote(self, question_id: str, user: str, helpful: bool) -> bool:
        """Record a vote and confirm it: True only once the row is in the database.

        The bot tells people their vote counted only when it did: an answer whose
        question was purged (or never logged) has nothing to attach a vote to.
        """
        if await self.lookup(question_id=question_id) is None:
            return False
        self.feedback(question_id, user, helpful)
        await self.flush()
        return (await self.feedback_of(question_id)).get(self.user_key(user)) == helpful

    async def _all(self, query: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]:
        async with self._db.execute(query, tuple(args)) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]


class Recorder(Protocol):
    """What answering code needs of a log: ``LogStore`` and ``NoLog`` both provide it."""

    def question(self, text: str, **fields: Any) -> str: ...

    def answer_message(self, question_id: str, message_id: str) -> None: ...

    def feedback(self, question_id: str, user: str, helpful: bool) -> None: ...

    def moderation(self, action: str, result: str, **fields: Any) -> None: ...

    async def vote(self, question_id: str, user: str, helpful: bool) -> bool: ...

    async def lookup(self, question_id: str = "", message_id: str = "") -> dict[str, str] | None:
        ...

    async def flush(self) -> None: ...

    async def close(self) -> None: ...


def record_answer(logs: Recorder, answer: Answer, latency_ms: float, mode: str, *,
                  model: str, index_version: str, **where: str) -> str:
    """Log a question with its citations (through the queue) and return its log id.

    Kept out of retrieval: the callers (the command line, the bot) decide what is
    logged and when; ``where`` holds guild, channel, thread, user, parent_id, message_id.
    """
    citations = [CitationRecord(c.rank, c.passage.passage_id, c.passage.doc_id, c.score)
                 for c in answer.results]
    return logs.question(answer.question, mode=mode, answered=answer.answered,
                         latency_ms=latency_ms, citations=citations, model=model,
                         index_version=index_version, **where)


class NoLog:
    """Stands in for the log when it is off or unusable: records nothing, costs nothing."""

    path: Path | None = None
    dropped = 0
    written = 0

    def question(self, text: str, **_: Any) -> str:
        """Return a fresh id, as ``LogStore.question`` does."""
        return uuid.uuid4().hex

    def answer_message(self, question_id: str, message_id: str) -> None:
        """Nothing to record."""

    def feedback(self, question_id: str, user: str, helpful: bool) -> None:
        """Nothing to record."""

    def moderation(self, action: str, result: str, **_: Any) -> None:
        """Nothing to record."""

    async def lookup(self, question_id: str = "", message_id: str = "") -> None:
        """Nothing is kept, so nothing is found."""
        return None

    async def vote(self, question_id: str, user: str, helpful: bool) -> bool:
        """Nothing is kept, so no vote is recorded."""
        return False

    async def flush(self) -> None:
        """Nothing to flush."""

    async def close(self) -> None:
        """Nothing to close."""


async def open_log(settings: LogSettings, path: Path) -> LogStore | NoLog:
    """The log store, or ``NoLog`` with a warning when logging is off or the file is unusable.

    Answers must go out even when the log cannot be written, so a damaged,
    read-only or newer-version database costs a warning, not the answer.
    """
    if not settings.enabled:
        return NoLog()
    try:
        return await LogStore.open(path, settings)
    except LogStoreError as exc:
        log.warning("questions are not being logged: %s", exc)
        return NoLog()


def _filters(since: str, guild: str) -> tuple[str, tuple[object, ...]]:
    clauses: list[str] = []
    args: list[object] = []
    if since:
        clauses.append("q.asked_at >= ?")
        args.append(since)
    if guild:
        clauses.append("q.guild = ?")
        args.append(guild)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(args)


def parse_since(value: str) -> str:
    """A ``--since`` date (YYYY-MM-DD or full ISO time) as the ISO string rows compare with.

    Raises:
        LogStoreError: not a date.
    """
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise LogStoreError(
            f"'{value[:40]}' is not a date; use YYYY-MM-DD, e.g. 2026-01-31") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


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
