"""The conversation log on a real SQLite file and a real PostgreSQL database: concurrency,
migrations, bad input, care, and the same answers from both backends.

Tests taking ``log_db`` run once per backend (see ``conftest.py``); the ones about
SQLite files, or about a PostgreSQL server, take a path or ``pg_url`` instead."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite
import pytest

from index.config import LogSettings
from index.errors import LogStoreError
from index.logs.backend import LogBackend, RecordRefused
from index.logs.recorder import LogStore, NoLog, open_log
from index.logs.records import (
    MAX_TEXT,
    AnswerMessage,
    CitationRecord,
    Feedback,
    Moderation,
    QuestionRecord,
)
from index.logs.report import chart_png, csv_row
from index.logs.sqlite import SCHEMA_VERSION, SqliteBackend, migrate
from tests.test_index.logs.conftest import LogDb, in_thread, pg_execute


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def rows(path: Path, query: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(query, args).fetchall()


def test_a_thousand_concurrent_writes_are_all_stored(log_db: LogDb) -> None:
    """1,000 tasks log a question with citations and a vote at once; every row lands."""

    async def test() -> None:
        store = await log_db.open()

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
    assert log_db.rows("SELECT COUNT(*) FROM questions") == [(1000,)]
    assert log_db.rows("SELECT COUNT(*) FROM citations") == [(2000,)]
    assert log_db.rows("SELECT COUNT(*), SUM(helpful) FROM feedback") == [(1000, 500)]
    if log_db.kind == "sqlite":
        assert log_db.rows("PRAGMA journal_mode") == [("wal",)]


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


def test_bad_text_is_stored_cleanly_and_missing_folders_are_made(log_db: LogDb,
                                                                  tmp_path: Path) -> None:
    """A 100 KB question is cut and marked; NULs and control characters go; emoji stay.
    (An SQLite file's missing folders are made; PostgreSQL has no file.)"""
    log_db = log_db.at(tmp_path / "no" / "such" / "folder" / "logs.sqlite")

    async def test() -> None:
        store = await log_db.open()
        store.question("x" * 100_000, mode="slash", answered=False, latency_ms=1)
        store.question("llamas\x00 and \x07alpacas 🦙 — ¿qué?", mode="mention", answered=True,
                       latency_ms=2)
        await store.close()

    run(test)
    long_text, emoji_text = (
        r[0] for r in log_db.rows(f"SELECT text FROM questions ORDER BY {log_db.insertion}"))
    assert len(long_text) == MAX_TEXT and long_text.endswith("…")
    assert emoji_text == "llamas and alpacas 🦙 — ¿qué?"


def test_one_vote_per_user_and_votes_can_change(log_db: LogDb) -> None:
    """A second vote by the same user replaces the first; a vote on nothing is dropped alone."""

    async def test() -> None:
        store = await log_db.open()
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


def test_hashed_user_ids_and_forget(log_db: LogDb) -> None:
    """Hashed ids hide the raw id; forget finds a user's rows either way and deletes them."""

    async def test() -> None:
        store = await log_db.open(LogSettings(hash_user_ids=True))
        qid = store.question("mine", mode="slash", answered=True, latency_ms=1, user="12345")
        store.question("theirs", mode="slash", answered=True, latency_ms=1, user="999")
        store.feedback(qid, "999", helpful=True)
        store.moderation("add", "done", user="12345", target="https://x.test/a")
        await store.flush()
        assert log_db.rows(
            """SELECT COUNT(*) FROM questions WHERE "user" LIKE '%12345%'""") == [(0,)]
        removed = await store.forget("12345")
        assert removed == 2  # a question (its vote by 999 cascades) and a moderation row
        await store.close()

    run(test)
    assert log_db.rows("SELECT text FROM questions") == [("theirs",)]
    assert log_db.rows("SELECT COUNT(*) FROM feedback") == [(0,)]
    assert log_db.rows("SELECT COUNT(*) FROM moderation") == [(0,)]


def test_retention_purges_old_rows(log_db: LogDb) -> None:
    """Rows older than the retention go when the store opens; recent ones stay."""

    async def test() -> None:
        store = await log_db.open()
        store.question("recent", mode="slash", answered=True, latency_ms=1)
        old = store.question("ancient", mode="slash", answered=True, latency_ms=1,
                             citations=[CitationRecord(1, "p", "d", 0.4)])
        await store.close()
        log_db.rows("UPDATE questions SET asked_at = '2020-01-01T00:00:00+00:00' WHERE id=?",
                    (old,))
        store = await log_db.open(LogSettings(retention_days=30))
        await store.close()

    run(test)
    assert log_db.rows("SELECT text FROM questions") == [("recent",)]
    assert log_db.rows("SELECT COUNT(*) FROM citations") == [(0,)]


def test_stats_match_what_was_written(log_db: LogDb) -> None:
    """Counts, answered rate, top articles, votes, slowest and gaps come out as written."""

    async def test() -> None:
        store = await log_db.open()
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


def test_a_bot_answer_counts_as_answered_only_once_delivered(log_db: LogDb) -> None:
    """The bot logs a found answer before sending it, as not answered; answer_message marks
    it answered with its message id. One never delivered stays unanswered, and is no
    coverage gap (citations were found); one with nothing found is."""
    found = [CitationRecord(1, "p1", "doc1", 0.7)]

    async def test() -> None:
        store = await log_db.open()
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
    assert log_db.rows("SELECT text, answered, message_id FROM questions"
                       f" ORDER BY {log_db.insertion}") == [
        ("delivered", 1, "1234"), ("never delivered", 0, ""), ("nothing found", 0, "")]


# --- opening by URL -------------------------------------------------------------------


def test_connect_opens_sqlite_by_url_and_names_the_accepted_forms(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sqlite:///absolute and sqlite:relative open files; anything else is refused by
    naming the accepted forms, never echoing a password."""
    monkeypatch.chdir(tmp_path)

    async def test() -> None:
        absolute = await LogStore.connect(f"sqlite:///{tmp_path / 'abs.sqlite'}")
        relative = await LogStore.connect("sqlite:rel/logs.sqlite")
        await absolute.close()
        await relative.close()
        assert absolute.path == tmp_path / "abs.sqlite"
        assert relative.path == Path("rel/logs.sqlite")
        for bad in ("mysql://bot:pw-123@db/logs", "sqlite://host/logs.sqlite", "sqlite:",
                    "postgresql:logs", "logs.sqlite"):
            with pytest.raises(LogStoreError, match=r"sqlite:///absolute/path.*postgresql://"
                               ) as caught:
                await LogStore.connect(bad)
            assert "pw-123" not in str(caught.value)

    run(test)
    assert (tmp_path / "abs.sqlite").is_file() and (tmp_path / "rel" / "logs.sqlite").is_file()


def test_an_sqlite_log_never_imports_the_postgresql_driver(tmp_path: Path) -> None:
    """asyncpg is imported only when a PostgreSQL URL is opened (a fresh interpreter)."""
    script = (
        "import asyncio, sys\n"
        "from index.logs.recorder import LogStore\n"
        "async def main():\n"
        f"    store = await LogStore.connect('sqlite:///{tmp_path / 'logs.sqlite'}')\n"
        "    store.question('q', mode='slash', answered=True, latency_ms=1)\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
        "print('asyncpg' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[3])
    assert done.stdout.strip() == "False"
    assert rows(tmp_path / "logs.sqlite", "SELECT text FROM questions") == [("q",)]


# --- both backends: the same rows give the same answers -------------------------------


def typed(value: object) -> object:
    """A value with the type of every leaf beside it, so 1 and 1.0 (or True and 1) differ."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return typed(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [typed(item) for item in value]
    return (value, type(value).__name__)


T1 = "2026-01-01T00:00:00+00:00"  # an older row's format: sorts before T2 bytewise
T2 = "2026-01-01T00:00:00.000+00:00"
T3 = "2026-01-02T08:00:00.000+00:00"
T4 = "2026-01-03T09:00:00.000+00:00"
PARITY_BATCHES = (
    [QuestionRecord("c", T1, "ÉCOLE ?", "slash", False, 1.0, guild="g2"),
     QuestionRecord("b", T2, "What about Bolivia?", "slash", False, 12.5, guild="g1", user="u1"),
     QuestionRecord("a", T2, "what about bolivia? ", "mention", False, 3.0, guild="g1",
                    user="u2"),
     QuestionRecord("d", T3, "école ?", "dm", False, 2.0, guild="g2", user="u1"),
     QuestionRecord("e", T3, "Peru", "slash", True, 40.0, guild="g1", user="u1", model="m",
                    index_version="v1", citations=(CitationRecord(2, "p2", "doc", 1.0),
                                                   CitationRecord(1, "p1", "Doc", 0.25))),
     Feedback("e", "u1", True, T3),
     Feedback("e", "u2", False, T3),
     Moderation(T3, "g1", "u1", "add", "https://x.test", "doc", "done", "")],
    [QuestionRecord("f", T4, "and Puno?", "follow_up", False, 7.0, guild="g1", user="u2",
                    channel="c1", thread="t1", parent_id="e",
                    citations=(CitationRecord(1, "p3", "ab", 0.5),
                               CitationRecord(2, "p4", "a-b", 0.5))),
     Feedback("e", "u1", False, T4),
     AnswerMessage("f", "m-f"),
     AnswerMessage("a", "m-a"),
     Moderation(T4, "g2", "u3", "remove", "", "ab", "refused", "why")],
)


async def everything_read_back(backend: LogBackend) -> dict[str, object]:
    """Write the parity batches, then every read, refusal and care a backend offers."""
    for batch in PARITY_BATCHES:
        await backend.write(batch)
    seen: dict[str, object] = {}
    for name, refused in (("vote on nothing", [QuestionRecord("z", T4, "z", "slash", True, 1),
                                               Feedback("nope", "u9", True, T4)]),
                          ("same id twice", [QuestionRecord("e", T4, "again", "slash", True, 1)])):
        with pytest.raises(RecordRefused):
            await backend.write(refused)
        # nothing of the batch was written, and what was there is untouched
        seen[name] = (await backend.lookup("id", "z"), await backend.lookup("id", "e"))
    seen["questions"] = [q async for q in backend.questions("", "")]
    seen["questions g1 since T3"] = [q async for q in backend.questions("2026-01-02", "g1")]
    for since, guild, top in (("", "", 5), ("2026-01-02", "", 5), ("", "g1", 1), ("", "", -1),
                              ("", "g2", 0)):
        seen[f"stats|{since}|{guild}|{top}"] = await backend.stats(since, guild, top)
    seen["by message"] = await backend.lookup("message_id", "m-f")
    seen["by id"] = await backend.lookup("id", "e")
    seen["votes"] = await backend.feedback_of("e")
    with pytest.raises(ValueError, match="cannot look a question up by 'text'"):
        await backend.lookup("text", "Peru")
    seen["purged"] = await backend.purge("2026-01-02")
    seen["forgotten"] = await backend.forget({"u2", "nobody"})
    seen["left"] = [q async for q in backend.questions("", "")]
    seen["votes left"] = await backend.feedback_of("e")
    seen["stats left"] = await backend.stats("", "", 5)
    await backend.close()
    return seen


def test_both_backends_store_and_report_the_same(tmp_path: Path, pg_url: str) -> None:
    """The same batches written to SQLite and to PostgreSQL read back identically, value
    for value and type for type; and the figures are the intended ones, not just equal:
    insertion order among equal times, bytewise order, ASCII-only case folding."""
    from index.logs.postgres import PostgresBackend

    async def test() -> tuple[dict[str, object], dict[str, object]]:
        lite = await everything_read_back(await SqliteBackend.open(tmp_path / "logs.sqlite"))
        pg = await everything_read_back(await PostgresBackend.open(pg_url))
        return lite, pg

    lite, pg = asyncio.run(test())
    assert typed(pg) == typed(lite)
    questions = lite["questions"]
    assert [q["id"] for q in questions] == ["c", "b", "a", "d", "e", "f"]  # type: ignore[attr-defined,index]
    peru = questions[4]  # type: ignore[index]
    assert peru["citations"] == [
        {"rank": 1, "passage_id": "p1", "doc_id": "Doc", "score": 0.25},
        {"rank": 2, "passage_id": "p2", "doc_id": "doc", "score": 1.0}]
    assert typed(peru["citations"][1]["score"]) == (1.0, "float")
    assert (peru["helpful_votes"], peru["not_helpful_votes"]) == (0, 2)
    assert [(q["id"], q["answered"], q["message_id"]) for q in questions  # type: ignore[attr-defined]
            if q["id"] in "aef"] == [("a", False, "m-a"), ("e", True, ""), ("f", True, "m-f")]
    stats = lite["stats|||5"]
    assert stats.per_day == [("2026-01-01", 3, 0), ("2026-01-02", 2, 1), ("2026-01-03", 1, 1)]  # type: ignore[attr-defined]
    assert stats.top_articles == [("Doc", 1), ("a-b", 1), ("ab", 1), ("doc", 1)]  # type: ignore[attr-defined]
    assert stats.gaps == [("What about Bolivia?", 2), ("école ?", 1), ("ÉCOLE ?", 1)]  # type: ignore[attr-defined]
    assert [ms for ms, _, _ in stats.slowest] == [40.0, 12.5, 7.0, 3.0, 2.0]  # type: ignore[attr-defined]
    assert (stats.helpful, stats.not_helpful, stats.moderation) == (0, 2, 2)  # type: ignore[attr-defined]
    assert len(lite["stats|||-1"].slowest) == 6  # type: ignore[attr-defined]
    assert lite["vote on nothing"][0] is None  # type: ignore[index]
    assert lite["same id twice"][1]["text"] == "Peru"  # type: ignore[index]
    assert lite["by message"] == {"id": "f", "text": "and Puno?", "guild": "g1",
                                  "message_id": "m-f"}
    assert (lite["purged"], lite["forgotten"]) == (3, 2)
    assert [q["id"] for q in lite["left"]] == ["d", "e"]  # type: ignore[attr-defined,index]
    assert lite["votes left"] == {"u1": False}


# --- PostgreSQL: what is about a server rather than a file ----------------------------


def pg_rows(url: str, query: str, *args: object) -> list[tuple[object, ...]]:
    return in_thread(pg_execute(url, query, *args))


def test_postgres_older_schema_is_migrated_and_keeps_its_rows(pg_url: str) -> None:
    """A version-1 PostgreSQL log gains the follow-up columns; its rows survive."""
    import asyncpg

    from index.logs import postgres

    async def make_v1() -> None:
        conn = await asyncpg.connect(pg_url)
        try:
            await postgres.migrate(conn, 1)
            await conn.execute(
                "INSERT INTO questions (id, asked_at, text, mode, answered, latency_ms)"
                " VALUES ('old', '2025-01-01T00:00:00+00:00', 'an old question', 'slash', 1, 5)")
        finally:
            await conn.close()

    async def reopen() -> None:
        store = await LogStore.connect(pg_url)
        follow = store.question("and Puno?", mode="follow_up", answered=True, latency_ms=1,
                                parent_id="old")
        await store.close()
        assert pg_rows(pg_url, "SELECT parent_id FROM questions WHERE id = $1", follow) == [
            ("old",)]

    run(make_v1)
    version = "SELECT value FROM meta WHERE key = 'schema_version'"
    assert pg_rows(pg_url, version) == [("1",)]
    assert pg_rows(pg_url, "SELECT to_regclass('questions_by_parent')") == [(None,)]
    run(reopen)
    assert pg_rows(pg_url, version) == [(str(postgres.SCHEMA_VERSION),)]
    assert pg_rows(pg_url, "SELECT text, parent_id, message_id FROM questions"
                           " WHERE id = 'old'") == [("an old question", None, "")]


def test_postgres_newer_schema_is_refused(pg_url: str) -> None:
    """A database a newer citebot wrote is refused by name and left as it is."""
    async def test() -> None:
        store = await LogStore.connect(pg_url)
        await store.close()
        pg_rows(pg_url, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        with pytest.raises(LogStoreError, match=r"newer citebot \(schema 99, this one knows "
                           r"\d+\); upgrade citebot or point logs.url elsewhere") as caught:
            await LogStore.connect(pg_url)
        assert "postgres@" in str(caught.value)

    run(test)
    assert pg_rows(pg_url, "SELECT value FROM meta WHERE key = 'schema_version'") == [("99",)]


def test_postgres_unreachable_server_is_reported_quickly_without_its_password() -> None:
    """Nothing listening: a LogStoreError at once saying what to check, password hidden."""
    pytest.importorskip("asyncpg")
    url = "postgresql://citebot:hunter2-pw@127.0.0.1:1/none"

    async def test() -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(LogStoreError) as caught:
            await LogStore.connect(url)
        assert loop.time() - started < 5
        message = str(caught.value)
        assert "hunter2" not in message
        assert message.startswith(
            "cannot connect to the log database postgresql://citebot@127.0.0.1:1/none (")
        assert "PostgreSQL server is running" in message and "logs.url" in message

    run(test)


def test_postgres_missing_database_says_to_create_it(pg_server: str) -> None:
    """A server that answers but has no such database: the message says to create it."""
    from tests.test_index.logs.conftest import with_database

    async def test() -> None:
        with pytest.raises(LogStoreError, match=r'database "no_such_log" does not exist.*'
                                                r"create the database"):
            await LogStore.connect(with_database(pg_server, "no_such_log"))

    run(test)


def test_postgres_two_processes_opening_a_fresh_database_migrate_it_once(pg_url: str) -> None:
    """Two stores opening one empty database at once both succeed and share one secret."""
    async def test() -> None:
        settings = LogSettings(hash_user_ids=True)
        first, second = await asyncio.gather(LogStore.connect(pg_url, settings),
                                             LogStore.connect(pg_url, settings))
        assert first.user_key("42") == second.user_key("42") != "42"
        first.question("from one", mode="slash", answered=True, latency_ms=1)
        second.question("from two", mode="slash", answered=True, latency_ms=1)
        await first.close()
        await second.close()

    run(test)
    assert pg_rows(pg_url, "SELECT key, value FROM meta WHERE key <> 'secret'") == [
        ("schema_version", "2")]
    assert pg_rows(pg_url, "SELECT COUNT(*) FROM meta WHERE key = 'secret'") == [(1,)]
    assert pg_rows(pg_url, "SELECT text FROM questions ORDER BY text") == [
        ("from one",), ("from two",)]


def test_postgres_locked_tables_delay_writes_without_losing_them(pg_url: str) -> None:
    """While another session holds a table lock, logging returns at once; rows land later."""
    import asyncpg

    async def test() -> None:
        store = await LogStore.connect(pg_url)
        blocker = await asyncpg.connect(pg_url)
        held = blocker.transaction()
        await held.start()
        await blocker.execute("LOCK TABLE questions IN ACCESS EXCLUSIVE MODE")
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in range(50):
            store.question(f"q{n}", mode="slash", answered=True, latency_ms=1)
        assert loop.time() - started < 0.05
        await asyncio.sleep(0.5)
        assert store.written == 0  # really held up by the lock
        await held.commit()
        await blocker.close()
        await store.close()
        assert store.written == 50

    run(test)
    assert pg_rows(pg_url, "SELECT COUNT(*) FROM questions") == [(50,)]


def test_postgres_busy_past_the_lock_timeout_and_refused_values(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock held past the timeout is Busy (the recorder retries); a value PostgreSQL
    cannot store (NUL) is a refused record, so it costs only itself."""
    import asyncpg

    from index.logs import postgres
    from index.logs.backend import Busy

    monkeypatch.setattr(postgres, "LOCK_TIMEOUT", "100ms")

    async def test() -> None:
        backend = await postgres.PostgresBackend.open(pg_url)
        blocker = await asyncpg.connect(pg_url)
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE questions IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(Busy):
                await backend.write([QuestionRecord("x", T1, "x", "slash", True, 1)])
        await blocker.close()
        with pytest.raises(RecordRefused):
            await backend.write([QuestionRecord("y", T1, "y", "slash", True, 1, guild="g\x00")])
        store = await LogStore.over(backend)
        store.question("fine", mode="slash", answered=True, latency_ms=1)
        store.question("bad guild", mode="slash", answered=True, latency_ms=1, guild="g\x00")
        await store.close()
        assert store.written == 1

    run(test)
    assert pg_rows(pg_url, "SELECT text FROM questions") == [("fine",)]


def test_the_postgresql_location_never_shows_a_password() -> None:
    """``where`` (what messages show) keeps the user, host and database, not the password."""
    postgres = pytest.importorskip("index.logs.postgres")
    assert postgres.redact("postgresql://bot:s3cret@db.example:5432/logs?sslmode=require") == (
        "postgresql://bot@db.example:5432/logs?sslmode=require")
    assert postgres.redact("postgres://bot@/logs?host=/run/pg&password=s3cret&port=5") == (
        "postgres://bot@/logs?host=/run/pg&port=5")
    assert postgres.redact("postgresql://u:p@h1:1,h2:2/db") == "postgresql://u@h1:1,h2:2/db"
