"""Recording the conversation log: questions, the citations shown, feedback and moderation.

The command line and the bot share it; nothing here knows about Discord, and
nothing here knows SQL: a ``LogBackend`` (``sqlite.py`` today) stores the records.

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
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from index.config import LogSettings
from index.errors import LogStoreError
from index.logs.backend import Busy, LogBackend, RecordRefused
from index.logs.records import (
    MODES,
    AnswerMessage,
    CitationRecord,
    Feedback,
    Moderation,
    QuestionRecord,
    Record,
    Stats,
    clean_text,
    utc_now,
)

if TYPE_CHECKING:
    from index.retrieval import Answer

log = logging.getLogger(__name__)


class LogStore:
    """The async log. Open with ``await LogStore.open(...)``, end with ``close``."""

    def __init__(self, backend: LogBackend, settings: LogSettings, secret: str,
                 path: Path | None = None) -> None:
        self.backend = backend
        self.path = path
        self.settings = settings
        self._secret = secret.encode()
        self._queue: asyncio.Queue[Record | None] = asyncio.Queue(settings.queue_size)
        self._writer: asyncio.Task[None] | None = None
        self.dropped = 0
        self.written = 0

    @classmethod
    async def open(cls, path: Path, settings: LogSettings | None = None) -> LogStore:
        """Open (creating or migrating) the SQLite log at ``path`` and start the writer.

        Raises:
            LogStoreError: the file is not an SQLite database, comes from a
                newer citebot, or cannot be created.
        """
        from index.logs.sqlite import SqliteBackend

        return await cls.over(await SqliteBackend.open(path), settings, path)

    @classmethod
    async def connect(cls, url: str, settings: LogSettings | None = None) -> LogStore:
        """Open the log a URL names and start the writer.

        ``sqlite:///absolute/path`` or ``sqlite:relative/path`` is an SQLite file
        (as ``open``); ``postgresql://user:password@host:port/database`` (or
        ``postgres://``) a PostgreSQL database several processes can share. The
        PostgreSQL driver is imported only when one is named.

        Raises:
            LogStoreError: the URL names neither, or its database cannot be used.
        """
        scheme, _, rest = url.partition(":")
        scheme = scheme.strip().lower()
        if scheme == "sqlite":
            # sqlite:///abs/path (or sqlite:////abs/path) is /abs/path; sqlite:rel/path (or
            # sqlite:/abs/path) is as written; sqlite://host/... names no file.
            file = ("/" + rest.lstrip("/") if rest.startswith("///")
                    else "" if rest.startswith("//") else rest)
            if file.strip("/"):
                from index.logs.sqlite import SqliteBackend

                path = Path(file).expanduser()
                return await cls.over(await SqliteBackend.open(path), settings, path)
        if scheme in ("postgresql", "postgres") and rest.startswith("//"):
            from index.logs.postgres import PostgresBackend

            return await cls.over(await PostgresBackend.open(url), settings)
        raise LogStoreError(
            f"cannot tell which log database '{scheme[:20]}:...' names; use "
            "sqlite:///absolute/path/logs.sqlite (or sqlite:relative/path/logs.sqlite) or "
            "postgresql://user:password@host:port/database")

    @classmethod
    async def over(cls, backend: LogBackend, settings: LogSettings | None = None,
                   path: Path | None = None) -> LogStore:
        """A log recording into an open backend (retention applied, writer started)."""
        settings = settings or LogSettings()
        store = cls(backend, settings, await backend.secret(), path)
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
        self._put(AnswerMessage(question_id, str(message_id)))

    def feedback(self, question_id: str, user: str, helpful: bool) -> None:
        """Queue a vote; a user's later vote on the same answer replaces the earlier one."""
        self._put(Feedback(question_id, self.user_key(str(user)), helpful, utc_now()))

    def moderation(self, action: str, result: str, *, user: str = "", guild: str = "",
                   target: str = "", doc_id: str = "", detail: str = "") -> None:
        """Queue a moderation action (add, remove, ...) and its result (done, refused)."""
        self._put(Moderation(utc_now(), str(guild), self.user_key(str(user)), action,
                             clean_text(target, 1000), doc_id, result,
                             clean_text(detail, 1000)))

    def user_key(self, user: str) -> str:
        """How a user id is stored: as given, or as a keyed hash when so configured."""
        if not user or not self.settings.hash_user_ids:
            return user
        return self._hashed(user)

    def _hashed(self, user: str) -> str:
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
        await self.backend.close()

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
        where = self.backend.where
        for attempt in range(3):
            try:
                await self.backend.write(records)
                self.written += len(records)
                return
            except RecordRefused:
                break  # one refused record: write them one by one below
            except Busy:
                await asyncio.sleep(0.2 * (attempt + 1))
            except LogStoreError as exc:
                log.warning("could not write %d log records to %s (%s); answers go on",
                            len(records), where, exc)
                return
        else:
            log.warning("the log database %s stayed locked; %d records not written",
                        where, len(records))
            return
        for record in records:
            try:
                await self.backend.write([record])
                self.written += 1
            except (RecordRefused, Busy, LogStoreError) as exc:
                log.warning("a log record was refused (%s): %s", exc, type(record).__name__)

    # --- care ---------------------------------------------------------------------------

    async def purge(self, days: int) -> int:
        """Delete questions (with their citations and votes) and actions older than ``days``."""
        cutoff = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds")
        removed = await self.backend.purge(cutoff)
        if removed:
            log.info("deleted %d questions older than %d days from the log", removed, days)
        return removed

    async def forget(self, user: str) -> int:
        """Delete every row about a user (as given or hashed); returns how many went."""
        await self.flush()
        return await self.backend.forget({user, self._hashed(user)})

    # --- reading ------------------------------------------------------------------------

    def questions(self, since: str = "", guild: str = "") -> AsyncIterator[dict[str, object]]:
        """Logged questions matching the filters, oldest first, with citations and votes.

        This is what ``citebot logs export`` writes, one record per question.
        """
        return self.backend.questions(since, guild)

    async def stats(self, since: str = "", guild: str = "", top: int = 5) -> Stats:
        """The summary: volume, answered rate, top articles, votes, slowest, coverage gaps."""
        await self.flush()  # what was asked a moment ago counts
        return await self.backend.stats(since, guild, top)

    async def lookup(self, question_id: str = "", message_id: str = "") -> dict[str, str] | None:
        """A logged question by its id or by the message that carried its answer.

        The bot uses it to page an answer or follow a thread after a restart.
        """
        await self.flush()
        column, value = ("id", question_id) if question_id else ("message_id", message_id)
        if not value:
            return None
        return await self.backend.lookup(column, value)

    async def feedback_of(self, question_id: str) -> dict[str, bool]:
        """The current votes on one answer, by (stored) user."""
        return await self.backend.feedback_of(question_id)

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


async def open_configured(settings: LogSettings, path: Path) -> LogStore:
    """The log the settings name: ``logs.url`` when set (SQLite or PostgreSQL), else the
    SQLite file at ``path`` (``logs.path``, or logs.sqlite in the data directory).

    Raises:
        LogStoreError: that database cannot be used.
    """
    if settings.url:
        return await LogStore.connect(settings.url, settings)
    return await LogStore.open(path, settings)


async def open_log(settings: LogSettings, path: Path) -> LogStore | NoLog:
    """The log store, or ``NoLog`` with a warning when logging is off or the file is unusable.

    Answers must go out even when the log cannot be written, so a damaged,
    read-only or newer-version database costs a warning, not the answer.
    """
    if not settings.enabled:
        return NoLog()
    try:
        return await open_configured(settings, path)
    except LogStoreError as exc:
        log.warning("questions are not being logged: %s", exc)
        return NoLog()
