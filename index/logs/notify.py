"""Announcing index changes to the other processes through PostgreSQL ``LISTEN/NOTIFY``.

When the log is on PostgreSQL every serving process already reaches one server,
so that server also carries the word that the articles changed: the process
that added or removed one sends ``NOTIFY``, the others are woken at once
(``index.retrieval.following.Follower``). A dedicated connection listens (a
pooled one would drop the subscription when returned); if it is lost, the
followers keep polling and a later wait connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg

from index.logs.postgres import CONNECT_TIMEOUT, _reason, redact

log = logging.getLogger(__name__)

CHANNEL = "citebot_index"
RETRY_SECONDS = 30.0
"""How long after a failed connection the next one is tried."""


class PostgresSignal:
    """A ``ChangeSignal`` over one PostgreSQL connection (``logs.url``).

    Nothing here ever makes a caller wait for the server: the connection is made
    (and made again after a loss, at most every ``RETRY_SECONDS``) in the
    background, and an announcement without a connection is skipped, since the
    followers' poll finds the change anyway."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: asyncpg.Connection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._next_try = 0.0
        self._heard = asyncio.Event()
        self._failed = False

    def _connected(self) -> asyncpg.Connection | None:
        """The listening connection, or None (then one is being made, or will be soon)."""
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        busy = self._connecting is not None and not self._connecting.done()
        if not busy and time.monotonic() >= self._next_try:
            self._next_try = time.monotonic() + RETRY_SECONDS
            self._connecting = asyncio.create_task(self._connect())
        return None

    async def _connect(self) -> None:
        try:
            conn = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT,
                                         server_settings={"application_name": "citebot"})
            await conn.add_listener(CHANNEL, self._on_notify)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            if not self._failed:
                log.warning("cannot listen for article changes on %s (%s); polling instead",
                            redact(self.url), _reason(exc, self.url))
            self._failed = True
            return
        if self._failed:
            log.info("listening for article changes on %s again", redact(self.url))
        self._failed = False
        self._conn = conn

    def _on_notify(self, conn: object, pid: int, channel: str, payload: object) -> None:
        if self._conn is None or pid != self._conn.get_server_pid():  # not our own
            self._heard.set()

    async def wait(self, timeout: float) -> None:
        self._connected()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._heard.wait(), timeout)
        self._heard.clear()

    async def announce(self) -> None:
        conn = self._connected()
        if conn is not None:
            await conn.execute("SELECT pg_notify($1, '')", CHANNEL)

    async def ready(self) -> bool:
        """Wait for the first connection attempt; whether it is listening (tests ask)."""
        self._connected()
        if self._connecting is not None:
            await asyncio.gather(self._connecting, return_exceptions=True)
        return self._connected() is not None

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            await conn.close(timeout=2)


async def announce_once(url: str) -> None:
    """Announce a change from a process that does not listen (``citebot add`` or ``remove``
    in a terminal); a failure costs the serving processes only their poll's delay."""
    signal = PostgresSignal(url)
    try:
        if await signal.ready():
            await signal.announce()
    finally:
        await signal.close()
