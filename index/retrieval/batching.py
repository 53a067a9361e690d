"""Micro-batching: questions asked at about the same moment share one model call.

Embedding a question has a large fixed cost (a forward pass of the model), so
fifty questions embedded one by one take several times as long as fifty
embedded together, and worker threads running searches side by side only fight
over the cores and the model's lock. The ``Batcher`` queues questions on the
event loop; one worker-thread call at a time takes everything queued (up to
``max_batch``), embeds it in one model call and runs the searches. A question
asked while nothing runs waits ``window`` seconds (a few milliseconds) for
others to join it; under load, the questions that arrive while a batch runs
form the next one, so the batches grow with the load.

The batcher also measures what a question costs (a moving average of worker
time per question), so a caller can estimate how long new work would wait and
refuse it only when that exceeds a budget (the bot's "busy").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence

from index.retrieval.search import GLOBAL_SCOPE, Answer, Query

log = logging.getLogger(__name__)

AnswerMany = Callable[[Sequence[Query]], Sequence[Answer | Exception]]
"""Answers a batch in order: an ``Answer``, or the error of a question that cannot be
asked (``Engine.ask_many``). Blocking: it runs in a worker thread."""

_Waiting = tuple[Query, "asyncio.Future[Answer]"]


class Batcher:
    """Answers questions from coroutines, several per model call.

    Bound to the event loop that first uses it (its futures and worker task
    live there): make one per running bot, not one per process.
    """

    def __init__(self, answer_many: AnswerMany, *, window: float = 0.002,
                 max_batch: int = 64, first_guess: float = 0.05,
                 smoothing: float = 0.2) -> None:
        """Args:
            answer_many: what answers a batch (``Engine.ask_many``).
            window: seconds a question arriving at an idle batcher waits for company.
            max_batch: at most this many questions per model call.
            first_guess: seconds per question assumed before anything was measured.
            smoothing: weight of the newest batch in the moving average (0-1].
        """
        self._answer_many = answer_many
        self.window = window
        self.max_batch = max_batch
        self._smoothing = smoothing
        self._cost = first_guess
        self._waiting: list[_Waiting] = []
        self._running = 0
        self._worker: asyncio.Task[None] | None = None
        self.sizes: deque[int] = deque(maxlen=1000)
        """The sizes of the latest batches (for benchmarks and tests)."""

    async def ask(self, question: str, top_k: int | None = None,
                  scopes: Collection[str] = (GLOBAL_SCOPE,)) -> Answer:
        """Answer one question, batched with the others asked at about the same moment.

        Raises:
            QuestionError: the question is empty or too long.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        self._waiting.append((Query(question, top_k, tuple(scopes)), future))
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return await future

    @property
    def pending(self) -> int:
        """Questions queued or being answered now."""
        return len(self._waiting) + self._running

    @property
    def running(self) -> int:
        """Questions in the worker thread now."""
        return self._running

    @property
    def seconds_per_question(self) -> float:
        """Worker time per question lately (a moving average over batches)."""
        return self._cost

    def expected_wait(self, ahead: int | None = None) -> float:
        """Seconds a question asked now would wait for the work ahead of it
        (``ahead`` questions; by default those pending here)."""
        return (self.pending if ahead is None else ahead) * self._cost

    async def _drain(self) -> None:
        """Answer batches until nothing is queued; the one task that calls the worker."""
        batch: list[_Waiting] = []
        try:
            if self.window > 0:
                await asyncio.sleep(self.window)
            while self._waiting:
                batch = [w for w in self._waiting[: self.max_batch] if not w[1].done()]
                del self._waiting[: self.max_batch]
                if batch:
                    await self._answer(batch)
                batch = []
        finally:
            # Only reached with work left when the task is cancelled (the loop is
            # closing): nobody should wait forever for an answer that will not come.
            for _, future in batch + self._waiting:
                future.cancel()
            self._waiting.clear()

    async def _answer(self, batch: list[_Waiting]) -> None:
        """One worker-thread call for the batch; each asker gets its answer or its error."""
        self._running = len(batch)
        started = time.perf_counter()
        try:
            results = await asyncio.to_thread(self._answer_many, [q for q, _ in batch])
        except Exception as exc:  # a bug in the search: every asker hears of it
            log.exception("answering a batch of %d questions failed", len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        finally:
            self._running = 0
        per_question = (time.perf_counter() - started) / len(batch)
        weight = self._smoothing if self.sizes else 1.0  # the first measure beats the guess
        self._cost += weight * (per_question - self._cost)
        self.sizes.append(len(batch))
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue  # the asker gave up (its task was cancelled)
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
