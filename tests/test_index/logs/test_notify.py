"""PostgreSQL NOTIFY wakes the other processes' followers at once; never the announcer."""

from __future__ import annotations

import asyncio
import time

import pytest

from index.logs.notify import PostgresSignal


@pytest.mark.asyncio
async def test_an_announcement_wakes_the_other_listener_at_once(pg_url: str) -> None:
    announcer, listener = PostgresSignal(pg_url), PostgresSignal(pg_url)
    try:
        assert await announcer.ready() and await listener.ready()
        waiting = asyncio.create_task(listener.wait(30))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await announcer.announce()
        await asyncio.wait_for(waiting, 5)
        assert time.monotonic() - started < 2  # woken, not timed out
        # Its own announcement does not wake the announcer: it made the change.
        started = time.monotonic()
        await announcer.announce()
        await announcer.wait(0.5)
        assert time.monotonic() - started >= 0.45
    finally:
        await announcer.close()
        await listener.close()


@pytest.mark.asyncio
async def test_without_a_server_it_falls_back_to_waiting_out_the_poll() -> None:
    """No server: no error reaches the caller, waits take the poll's time, announcements
    are skipped (the followers' poll finds the change)."""
    signal = PostgresSignal("postgresql://citebot@127.0.0.1:9/nowhere")
    try:
        assert not await signal.ready()
        started = time.monotonic()
        await signal.announce()
        await signal.wait(0.3)
        assert 0.25 <= time.monotonic() - started < 2
    finally:
        await signal.close()
