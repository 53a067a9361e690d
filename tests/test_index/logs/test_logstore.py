"""The conversation log on a real SQLite file: concurrency, migrations, bad input, care."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite
import pytest

from index.config import LogSettings
from index.errors import LogStoreError
from index.logs.recorder import LogStore, NoLog, open_log
from index.logs.records import MAX_TEXT, CitationRecord
from index.logs.report import chart_png, csv_row
from index.logs.sqlite import SCHEMA_VERSION, migrate


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def rows(path: Path, query: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(query, args).fetchall()


def test_a_thousand_concurrent_writes_are_all_stored(tmp_path: Path) -> None:
    """1,000 tasks log a question with citations and a vote at once; every row lands."""
    path = tmp_path / "logs.sqlite"

    async def test() -> None:
        store = await LogStore.open(path)

        async def one(n: int) -> str:
            await asyncio.sleep(0)
            qid = store.question(f"question {n}", mode="slash", answered=n % 3 != 0,
                                 latency_ms=n, guild=f"g{n % 4}", user=f"u{n % 50}",
                                 citations=[CitationRecord(r, f"p{n}-{r}", f"doc{r}", 0.5)
                                            for r in (1, 2)])
            store.feedback(qid, f"u{n % 50}", helpful=n % 2 == 0)
            return qid

        ids = await asyncio.gather(*(one(n) for n in range(1000)))
        await store.close()
        assert len(set(ids)) == 1000 and store.written == 2000 and store.dropped == 0

    run(test)
    assert rows(path, "SELECT COUNT(*) FROM questions") == [(1000,)]
    assert rows(path, "SELECT COUNT(*) FROM citations") == [(2000,)]
    assert rows(path, "SELECT COUNT(*), SUM(helpful) FROM feedback") == [(1000, 500)]
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]


def test_an_older_schema_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    """A version-1 database gains the follow-up columns; its rows survive."""
    path = tmp_path / "logs.sqlite"

    async def make_v1() -> None:
        async with aiosqlite.connect(path, isolation_level=None) as db:
            await migrate(db, 1)
            await db.execute(
                "INSERT INTO questions (id, asked_at, text, mode, answered, latency_ms)"
                " VALUES ('old', '2025-01-01T00:00:00+00:00', 'an old question', 'slash', 1, 5)")

    async def reopen() -> None:
        store = await LogStore.open(path)
        follow = store.question("and Puno?", mode="follow_up", answered=True, latency_ms=1,
                                parent_id="old")
        await store.close()
        assert rows(path, "SELECT parent_id FROM questions WHERE id = ?", (follow,)) == [("old",)]

    run(make_v1)
    assert rows(path, "PRAGMA user_version") == [(1,)]
    run(reopen)
    assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert rows(path, "SELECT text FROM questions WHERE id = 'old'") == [("an old question",)]


def test_unusable_files_get_clear_messages(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """Not SQLite, or from a newer citebot: refused by name; open_log degrades to NoLog."""
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")

    async def test() -> None:
        with pytest.raises(LogStoreError, match="not an SQLite database; move it aside"):
            await LogStore.open(junk)
        with pytest.raises(LogStoreError, match="newer citebot"):
            await LogStore.open(newer)
        with caplog.at_level(logging.WARNING):
            fallback = await open_log(LogSettings(), junk)
        assert isinstance(fallback, NoLog) and "not being logged" in caplog.text
        assert fallback.question("still answered", mode="slash")

    run(test)
    assert junk.read_bytes().startswith(b"this is not a database")  # left untouched


def test_bad_text_is_stored_cleanly_and_missing_folders_are_made(tmp_path: Path) -> None:
    """A 100 KB question is cut and marked; NULs and control characters go; emoji stay."""
    path = tmp_path / "no" / "such" / "folder" / "logs.sqlite"

    async def test() -> None:
        store = await LogStore.open(path)
        store.question("x" * 100_000, mode="slash", answered=False, latency_ms=1)
        store.question("llamas\x00 and \x07alpacas 🦙 — ¿qué?", mode="mention", answered=True,
                       latency_ms=2)
        await store.close()

    run(test)
    long_text, emoji_text = (r[0] for r in rows(path, "SELECT text FROM questions ORDER BY rowid"))
    assert len(long_text) == MAX_TEXT and long_text.endswith("…")
    assert emoji_text == "llamas and alpacas 🦙 — ¿qué?"


def test_one_vote_per_user_and_votes_can_change(tmp_path: Path) -> None:
    """A second vote by the same user replaces the first; a vote on nothing is dropped alone."""
    path = tmp_path / "logs.sqlite"

    async def test() -> None:
        store = await LogStore.open(path)
        qid = store.question("q", mode="slash", answered=True, latency_ms=1)
        store.feedback(qid, "alice", helpful=True)
        store.feedback(qid, "bob", helpful=True)
        store.feedback("no-such-question", "carol", helpful=True)
        store.feedback(qid, "alice", helpful=False)
        await store.flush()
        assert await store.feedback_of(qid) == {"alice": False, "bob": True}
        await store.close()

    run(test)


def test_locked_database_delays_writes_without_losing_them(tmp_path: Path) -> None:
    """While another process holds the write lock, logging returns at once; rows land later."""
    path = tmp_path / "logs.sqlite"

    async def test() -> None:
        store = await LogStore.open(path)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in range(50):
            store.question(f"q{n}", mode="slash", answered=True, latency_ms=1)
        assert loop.time() - started < 0.05
        await asyncio.sleep(0.5)
        blocker.execute("COMMIT")
        blocker.close()
        await store.close()

    run(test)
    assert rows(path, "SELECT COUNT(*) FROM questions") == [(50,)]


def test_hashed_user_ids_and_forget(tmp_path: Path) -> None:
    """Hashed ids hide the raw id; forget finds a user's rows either way and deletes them."""
    path = tmp_path / "logs.sqlite"

    async def test() -> None:
        store = await LogStore.open(path, LogSettings(hash_user_ids=True))
        qid = store.question("mine", mode="slash", answered=True, latency_ms=1, user="12345")
        store.question("theirs", mode="slash", answered=True, latency_ms=1, user="999")
        store.feedback(qid, "999", helpful=True)
        store.moderation("add", "done", user="12345", target="https://x.test/a")
        await store.flush()
        assert rows(path, "SELECT COUNT(*) FROM questions WHERE user LIKE '%12345%'") == [(0,)]
        removed = await store.forget("12345")
        assert removed == 2  # a question (its vote by 999 cascades) and a moderation row
        await store.close()

    run(test)
    assert rows(path, "SELECT text FROM questions") == [("theirs",)]
    assert rows(path, "SELECT COUNT(*) FROM feedback") == [(0,)]
    assert rows(path, "SELECT COUNT(*) FROM moderation") == [(0,)]


def test_retention_purges_old_rows(tmp_path: Path) -> None:
    """Rows older than the retention go when the store opens; recent ones stay."""
    path = tmp_path / "logs.sqlite"

    async def test() -> None:
        store = await LogStore.open(path)
        store.question("recent", mode="slash", answered=True, latency_ms=1)
        old = store.question("ancient", mode="slash", answered=True, latency_ms=1,
                             citations=[CitationRecord(1, "p", "d", 0.4)])
        await store.close()
        with sqlite3.connect(path) as db:
            db.execute("UPDATE questions SET asked_at = '2020-01-01T00:00:00+00:00' WHERE id=?",
                       (old,))
        store = await LogStore.open(path, LogSettings(retention_days=30))
        await store.close()

    run(test)
    assert rows(path, "SELECT text FROM questions") == [("recent",)]
    assert rows(path, "SELECT COUNT(*) FROM citations") == [(0,)]


def test_stats_match_what_was_written(tmp_path: Path) -> None:
    """Counts, answered rate, top articles, votes, slowest and gaps come out as written."""
    path = tmp_path / "logs.sqlite"

    async def test() -> None:
        store = await LogStore.open(path)
        for n in range(6):
            qid = store.question(f"answered {n}", mode="slash", answered=True,
                                 latency_ms=10 * n, guild="g1",
                                 citations=[CitationRecord(1, f"p{n}", "peru", 0.6),
                                            CitationRecord(2, f"q{n}", f"doc{n % 2}", 0.5)])
            store.feedback(qid, "u1", helpful=n < 4)
        for text in ("What about Bolivia?", "what about bolivia? ", "Who won the 1998 cup?"):
            store.question(text, mode="mention", answered=False, latency_ms=999, guild="g1")
        store.question("elsewhere", mode="slash", answered=True, latency_ms=1, guild="g2")
        store.moderation("remove", "refused", guild="g1", doc_id="x")
        await store.flush()
        stats = await store.stats(guild="g1")
        assert (stats.questions, stats.answered) == (9, 6)
        assert stats.answered_rate == pytest.approx(6 / 9)
        assert stats.top_articles[0] == ("peru", 6)
        assert (stats.helpful, stats.not_helpful) == (4, 2)
        assert stats.slowest[0][0] == 999
        assert stats.gaps[0][1] == 2 and stats.gaps[0][0].lower().startswith("what about bolivia")
        assert stats.moderation == 1
        assert (await store.stats()).questions == 10
        exported = [row async for row in store.questions(guild="g2")]
        assert [r["text"] for r in exported] == ["elsewhere"]
        await store.close()
        png = chart_png(stats)
        assert png.startswith(b"\x89PNG") and len(png) > 5000

    run(test)


def test_csv_rows_defuse_spreadsheet_formulas() -> None:
    """A question starting with '=' cannot run as a formula when the CSV is opened."""
    row = csv_row({"id": "1", "text": "=HYPERLINK(\"http://x\")", "user": "@bob", "guild": "",
                   "answered": True, "citations": [{"doc_id": "a"}, {"doc_id": "b"}]})
    assert row["text"].startswith("'=") and row["user"] == "'@bob"
    assert row["cited_doc_ids"] == "a;b" and row["answered"] == 1


def test_a_bot_answer_counts_as_answered_only_once_delivered(tmp_path: Path) -> None:
    """The bot logs a found answer before sending it, as not answered; answer_message marks
    it answered with its message id. One never delivered stays unanswered, and is no
    coverage gap (citations were found); one with nothing found is."""
    path = tmp_path / "logs.sqlite"
    found = [CitationRecord(1, "p1", "doc1", 0.7)]

    async def test() -> None:
        store = await LogStore.open(path)
        sent = store.question("delivered", mode="mention", answered=False, latency_ms=1,
                              citations=found)
        store.question("never delivered", mode="mention", answered=False, latency_ms=1,
                       citations=found)
        store.question("nothing found", mode="mention", answered=False, latency_ms=1)
        await store.flush()
        assert (await store.stats()).answered == 0
        store.answer_message(sent, "1234")
        stats = await store.stats()
        await store.close()
        assert (stats.questions, stats.answered) == (3, 1)
        assert stats.gaps == [("nothing found", 1)]

    run(test)
    assert rows(path, "SELECT text, answered, message_id FROM questions ORDER BY rowid") == [
        ("delivered", 1, "1234"), ("never delivered", 0, ""), ("nothing found", 0, "")]
