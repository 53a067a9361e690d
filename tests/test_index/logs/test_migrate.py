"""``citebot logs migrate``: an SQLite log copied into a real PostgreSQL database, checked,
and safe to run again."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from index.config import LogSettings
from index.errors import LogStoreError
from index.logs.migrate import migrate_log
from index.logs.recorder import LogStore
from index.logs.records import CitationRecord
from tests.test_index.logs.conftest import in_thread, pg_execute

HASHED = LogSettings(hash_user_ids=True)


async def fill(path: Path) -> None:
    """A small log with every kind of row: questions (one a follow-up), citations, votes,
    a delivered answer and a moderation action, user ids hashed."""
    store = await LogStore.open(path, HASHED)
    first = store.question("Why are people protesting?", mode="slash", answered=True,
                           latency_ms=12.5, guild="g1", user="alice",
                           citations=[CitationRecord(1, "p1", "doc-a", 0.61),
                                      CitationRecord(2, "p2", "doc-b", 0.52)])
    store.question("And in Juliaca?", mode="follow_up", answered=False, latency_ms=8.0,
                   guild="g1", user="alice", parent_id=first)
    store.question("¿Qué pasó en Puno? ’quotes’ and\ttabs", mode="mention", answered=True,
                   latency_ms=20.0, guild="g2", user="bob",
                   citations=[CitationRecord(1, "p3", "doc-a", 0.4)])
    store.answer_message(first, "123456789")
    store.feedback(first, "bob", helpful=True)
    store.feedback(first, "carol", helpful=False)
    store.moderation("add", "done", user="mod", guild="g1", target="https://example.org/a",
                     doc_id="doc-a")
    await store.close()


async def everything(store: LogStore) -> tuple[list[dict[str, object]], object]:
    rows = [row async for row in store.questions()]
    stats = await store.stats()
    await store.close()
    return rows, stats


def test_a_log_is_copied_whole_checked_and_never_doubled(tmp_path: Path, pg_url: str) -> None:
    path = tmp_path / "logs.sqlite"
    in_thread(fill(path))
    copied = in_thread(migrate_log(path, pg_url))
    counts = [(c.table, c.source, c.present) for c in copied]
    assert counts == [("questions", 3, 3), ("citations", 3, 3), ("feedback", 2, 2),
                      ("moderation", 1, 1)]
    # The shared log answers exactly as the file did: every question, citation, vote
    # count, follow-up link, delivered message id, and the stats.
    before = in_thread(everything_at(lambda: LogStore.open(path, HASHED)))
    after = in_thread(everything_at(lambda: LogStore.connect(pg_url, HASHED)))
    assert after == before and len(before[0]) == 3
    # Run again (after a failure, or to bring over what came since): nothing doubles.
    assert [(c.table, c.source, c.present) for c in in_thread(migrate_log(path, pg_url))] \
        == counts
    assert in_thread(pg_execute(pg_url, "SELECT COUNT(*) FROM questions")) == [(3,)]
    assert in_thread(pg_execute(pg_url, "SELECT COUNT(*) FROM moderation")) == [(1,)]

    # The hashing secret came along: forgetting a user in the shared log finds the rows
    # the old log hashed.
    async def forget() -> int:
        store = await LogStore.connect(pg_url, HASHED)
        try:
            return await store.forget("alice")
        finally:
            await store.close()

    assert in_thread(forget()) == 2
    assert in_thread(pg_execute(pg_url, "SELECT COUNT(*) FROM questions")) == [(1,)]


async def everything_at(opener: Callable[[], object]) -> tuple[list[dict[str, object]], object]:
    return await everything(await opener())  # type: ignore[misc]


def test_a_target_holding_another_log_is_refused(tmp_path: Path, pg_url: str) -> None:
    """Rows hashed with two secrets cannot share a log: the copy stops and says why."""
    other = tmp_path / "other.sqlite"
    in_thread(fill(other))
    in_thread(migrate_log(other, pg_url))
    path = tmp_path / "logs.sqlite"
    in_thread(fill(path))
    with pytest.raises(LogStoreError, match="another log"):
        in_thread(migrate_log(path, pg_url))
    with pytest.raises(LogStoreError, match="no SQLite log"):
        in_thread(migrate_log(tmp_path / "missing.sqlite", pg_url))


def test_the_command_copies_and_reports_counts(
        tmp_path: Path, pg_url: str,
        run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    path = tmp_path / "logs.sqlite"
    in_thread(fill(path))
    result = run_cli("logs", "migrate", "--to", pg_url, "--from", str(path))
    assert result.returncode == 0, result.stderr
    assert "3 of them in the target" in result.stdout and "set logs.url" in result.stdout
    assert in_thread(pg_execute(pg_url, "SELECT COUNT(*) FROM citations")) == [(3,)]
    refused = run_cli("logs", "migrate", "--to", "sqlite:///x.sqlite", "--from", str(path))
    assert refused.returncode != 0 and "PostgreSQL URL" in refused.stderr
    # With logs.url set, the log commands read the shared log.
    config = tmp_path / "citebot.toml"
    config.write_text(f'[logs]\nurl = "{pg_url}"\n', encoding="utf-8")
    stats = run_cli("--config", str(config), "logs", "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["questions"] == 3
