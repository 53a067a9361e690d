"""The answers being worked on, so that stopping the bot loses none of them.

A shutdown (``CitebotBot.shutdown``) sets ``stopping`` (new questions are asked
to come back), waits here until every answer in flight has been sent and its
message id logged, and only then closes the connection. An answer counts from
the moment its search starts until its task ends, the send included.
"""

from __future__ import annotations

import asyncio
from typing import Any


class InFlight:
    """The tasks answering now, and the events a shutdown goes by."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        """Set when shutdown begins: questions arriving from then on are asked to come back."""
        self._hurry = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    def track_current_task(self) -> None:
        """Count the task answering now as in flight until it ends (its send included)."""
        task = asyncio.current_task()
        if task is not None and task not in self._tasks:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def count(self) -> int:
        """Answers still running."""
        return len([t for t in self._tasks if not t.done()])

    async def finish(self, timeout: float | None = None) -> set[asyncio.Task[Any]]:
        """Wait until no answer is in flight (at most ``timeout`` seconds, or until
        ``hurry``); returns the tasks still running. Answers that start meanwhile (the
        "restarting" replies) are waited for too."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        hurry = asyncio.ensure_future(self._hurry.wait())
        try:
            while True:
                running = {t for t in self._tasks
                           if not t.done() and t is not asyncio.current_task()}
                left = None if deadline is None else deadline - loop.time()
                if not running or (left is not None and left <= 0) or hurry.done():
                    return running
                await asyncio.wait({*running, hurry}, timeout=left,
                                   return_when=asyncio.FIRST_COMPLETED)
        finally:
            hurry.cancel()

    def hurry(self) -> None:
        """Cut the wait in ``finish`` short (a second Ctrl-C)."""
        self._hurry.set()
