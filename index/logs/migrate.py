"""Copying an SQLite log into PostgreSQL: ``citebot logs migrate --to URL``.

A host going from one process to several (shards, machines) moves the log
once, from the SQLite file each process used to keep to the PostgreSQL database
they will share. The copy is idempotent: rows already in the target are kept,
never doubled, so it can be run again after a failure, or once more to bring
over what the old bot wrote meanwhile. It is checked: afterwards every source
row is looked up in the target, table by table, and a shortfall is an error.

The hashing secret comes along (when the target has no questions yet), so
user ids hashed by the old log (``logs.hash_user_ids``) still match the ones
the shared log hashes, and ``citebot logs forget`` finds both.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from index.errors import LogStoreError
from index.logs.sqlite import SqliteBackend

TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "questions": (("id", "asked_at", "guild", "channel", "thread", "user", "text", "mode",
                   "answered", "latency_ms", "model", "index_version", "parent_id",
                   "message_id"), ("id",)),
    "citations": (("question_id", "rank", "passage_id", "doc_id", "score"),
                  ("question_id", "rank")),
    "feedback": (("question_id", "user", "helpful", "at"), ("question_id", "user")),
    "moderation": (("at", "guild", "user", "action", "target", "doc_id", "result", "detail"),
                   ("at", "guild", "user", "action", "target", "doc_id", "result", "detail")),
}
"""What is copied, in this order (a question before its citations and votes): each
table's columns and the columns that identify a row (moderation rows have no key of
their own that survives a copy, so a row is identified by all of it)."""

BATCH = 2000


@dataclass(frozen=True)
class Copied:
    """One table's rows in the source and how many of them the target now holds."""

    table: str
    source: int
    present: int


async def migrate_log(source: Path, url: str, batch: int = BATCH) -> list[Copied]:
    """Copy the SQLite log at ``source`` into the PostgreSQL database at ``url``.

    Raises:
        LogStoreError: either database cannot be opened, the target holds another
            log's questions under another hashing secret, or a row is missing
            from the target after the copy.
    """
    from index.logs.postgres import PostgresBackend

    if not source.is_file():
        raise LogStoreError(f"there is no SQLite log at {source}; give --from PATH")
    # Opening it brings an older file to the current schema, as a start would.
    await (await SqliteBackend.open(source)).close()
    target = await PostgresBackend.open(url)
    try:
        async with aiosqlite.connect(f"file:{source}?mode=ro", uri=True) as db:
            secret = await _one(db, "SELECT value FROM meta WHERE key = 'secret'")
            await target.adopt_secret(str(secret))
            copied = []
            for table, (columns, key) in TABLES.items():
                copied.append(await _copy(db, target, table, columns, key, batch))
    except sqlite3.Error as exc:
        raise LogStoreError(f"cannot read the log database {source}: {exc}") from None
    finally:
        await target.close()
    short = [c for c in copied if c.present != c.source]
    if short:
        raise LogStoreError("the copy is incomplete: " + "; ".join(
            f"{c.table}: {c.present} of {c.source} rows in {redacted(url)}" for c in short))
    return copied


async def _copy(db: aiosqlite.Connection, target: object, table: str,
                columns: tuple[str, ...], key: tuple[str, ...], batch: int) -> Copied:
    """Copy one table in batches, then count the source's rows found in the target."""
    names = ", ".join(f'"{c}"' for c in columns)
    # rowid order: a follow-up question comes after the question it continues.
    query = f"SELECT {names} FROM {table} ORDER BY rowid"
    source = present = 0
    async with db.execute(query) as cursor:
        while rows := [tuple(row) for row in await cursor.fetchmany(batch)]:
            await target.import_rows(table, columns, key, rows)  # type: ignore[attr-defined]
            keys = [tuple(row[columns.index(k)] for k in key) for row in rows]
            present += await target.count_present(table, key, keys)  # type: ignore[attr-defined]
            source += len(rows)
    return Copied(table, source, present)


async def _one(db: aiosqlite.Connection, query: str) -> object:
    async with db.execute(query) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise LogStoreError("the SQLite log has no hashing secret; open it once with citebot")
    return row[0]


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    from index.logs.postgres import redact

    return redact(url)
