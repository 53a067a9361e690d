"""Keeping a serving process's index in step with the others sharing its data directory.

Several processes may serve one data directory (shards split over processes, a
rolling restart). The articles folder and the index published in it are the
truth; a process that adds or removes an article writes them (under the
index's file lock) and then announces it; every other process notices and
takes the change in (``Engine.follow``: only the new segment is read), so an
article added through one process is citable in all of them within seconds,
with no restart.

How a process notices: it reads the index's ``CURRENT`` file every
``index.follow_seconds`` (``Polling``: one small read, and it also catches a
``citebot add`` run in a terminal), and, when the log is on PostgreSQL, it is
woken at once by a ``NOTIFY`` (``index.logs.notify.PostgresSignal``), the poll
then being only a safety net for a missed notification, run four times less often.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from index.errors import CitebotError
from index.retrieval.engine import Engine

log = logging.getLogger(__name__)

SIGNALLED_SLOWER = 4.0
"""How many times less often the published index is checked when announcements wake
the process (then the check is a safety net for a missed one)."""


class ChangeSignal(Protocol):
    """How processes tell each other that the published index changed."""

    async def wait(self, timeout: float) -> None:
        """Return when another process announced a change, or after ``timeout`` seconds."""
        ...

    async def announce(self) -> None:
        """Tell the other processes that this one published a change."""
        ...

    async def close(self) -> None:
        """Stop listening."""
        ...


class Polling:
    """No announcements: the followers find changes by reading ``CURRENT`` on a timer."""

    async def wait(self, timeout: float) -> None:
        await asyncio.sleep(timeout)

    async def announce(self) -> None:
        return None

    async def close(self) -> None:
        return None


class Follower:
    """Runs in a serving process: takes in the changes other processes publish."""

    def __init__(self, engine: Callable[[], Engine], signal: ChangeSignal | None = None,
                 interval: float = 1.0) -> None:
        """Args:
            engine: gives the loaded engine.
            signal: how changes are announced (default: none, polling only).
            interval: seconds between checks without a signal (``index.follow_seconds``);
                ``SIGNALLED_SLOWER`` times that with one.
        """
        self._engine = engine
        self.signal: ChangeSignal = signal or Polling()
        self.interval = interval * (1.0 if signal is None else SIGNALLED_SLOWER)
        self.followed = 0
        """Changes taken in so far."""
        self._problem = ""
        self._announcing: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Check, take in, wait; until cancelled. A failure is logged (once while it
        lasts) and the index held stays in use."""
        while True:
            await self.catch_up()
            await self.signal.wait(self.interval)

    async def catch_up(self) -> bool:
        """Take in what was published since the last look; whether anything was."""
        engine = self._engine()
        try:
            if not await asyncio.to_thread(engine.behind):
                return False
            report = await asyncio.to_thread(engine.follow)
        except CitebotError as exc:
            if str(exc) != self._problem:
                log.warning("cannot take in the index another process published (%s); "
                            "answering from the one loaded", exc)
            self._problem = str(exc)
            return False
        self._problem = ""
        if report is None:
            return False
        self.followed += 1
        return True

    async def announce(self) -> None:
        """Tell the other processes at once that this one added or removed an article."""
        try:
            await self.signal.announce()
        except Exception as exc:  # they still find it at their next poll
            log.warning("could not announce the change to the other processes (%s); they "
                        "find it within %g s", exc, self.interval)

    def announce_soon(self) -> None:
        """``announce`` in a task of its own (from a callback on the event loop)."""
        task = asyncio.create_task(self.announce())
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)

    async def close(self) -> None:
        for task in list(self._announcing):
            await asyncio.gather(task, return_exceptions=True)
        await self.signal.close()
