"""A real PostgreSQL server for the tests that need one, started by the suite itself.

The server (pgserver's bundled PostgreSQL 16, listening on a unix socket only)
starts once for the session, the first time a test asks for it, and stops at the
end; every test gets a database of its own (``pg_url``), so no test sees
another's rows. The fixtures are made available to every test by
``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end on a loop of its own, from sync code or inside a test's
    loop alike (like a blocking sqlite3 call, it holds the caller up until done)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def pg_execute(url: str, query: str, *args: object) -> list[tuple[object, ...]]:
    """One statement on its own connection: its rows as tuples."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await conn.fetch(query, *args)]
    finally:
        await conn.close()


def with_database(server_uri: str, name: str) -> str:
    """The server's URI (``postgresql://postgres:@/postgres?host=/socket/dir``) for ``name``."""
    return re.sub(r"@/[^?]*", f"@/{name}", server_uri, count=1)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One PostgreSQL server for the session; yields the URI of its ``postgres`` database."""
    pgserver = pytest.importorskip("pgserver")
    pytest.importorskip("asyncpg")
    server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="stop")
    try:
        uri = server.get_uri()
        # A throwaway server: no need to wait for the disk on every commit.
        for setting in ("ALTER SYSTEM SET fsync = off",
                        "ALTER SYSTEM SET synchronous_commit = off",
                        "ALTER SYSTEM SET full_page_writes = off",
                        "SELECT pg_reload_conf()"):
            in_thread(pg_execute(uri, setting))
        yield uri
    finally:
        server.cleanup()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """The URL of a new, empty database on the session's server (dropped afterwards)."""
    name = f"test_{uuid.uuid4().hex}"
    in_thread(pg_execute(pg_server, f'CREATE DATABASE "{name}"'))
    yield with_database(pg_server, name)
    in_thread(pg_execute(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
