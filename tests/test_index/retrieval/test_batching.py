"""Micro-batching with the real model: questions asked together share one model call and get
exactly the answers they would get one at a time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from index.errors import QuestionError
from index.retrieval.batching import Batcher
from index.retrieval.embedder import choose_precision
from index.retrieval.engine import Engine
from index.retrieval.search import Answer, Query
from tests import paths

pytestmark = pytest.mark.asyncio

SEEDS = [json.loads(line)["question"] for line in
         (paths.ROOT / "bench" / "data" / "seed_questions.jsonl")
         .read_text(encoding="utf-8").splitlines() if line][:12]
QUESTIONS = [
    "Which buildings did the crowd in Juli set on fire?",
    "Why are rural people in Peru protesting?",
    "What is the best recipe for a chocolate cake with strawberries?",  # nothing relevant
    *SEEDS,
]


# A batch pads questions to a common length, which moves the last bit of a vector
# component in float32; with bfloat16 matrix products (model.precision "auto" on a
# CPU that has them) the same padding moves a score in its third digit.
TOLERANCE = 1e-5 if choose_precision("auto", "cpu") == "float32" else 5e-3


def same_answer(batched: Answer, alone: Answer) -> None:
    """The same citations in the same order with the same highlights; scores equal up to
    the rounding of the model's precision (``TOLERANCE``)."""
    assert batched.question == alone.question and batched.answered == alone.answered
    assert [(c.rank, c.passage.passage_id, c.highlight_start, c.highlight_end)
            for c in batched.results] == [
        (c.rank, c.passage.passage_id, c.highlight_start, c.highlight_end)
        for c in alone.results]
    for b, a in zip(batched.results, alone.results, strict=True):
        assert b.score == pytest.approx(a.score, rel=TOLERANCE, abs=TOLERANCE)
        assert b.similarity == pytest.approx(a.similarity, abs=TOLERANCE)


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Let the event loop run until ``condition`` holds (a state change, not a delay)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0)


async def test_questions_asked_together_get_one_model_call_and_the_same_answers(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Questions asked at the same moment are embedded in one call (a repeated one once); each
    answer (several top_k and scopes) is the one ``engine.ask`` gives alone."""
    asks = [(q, 1 + n % 5, ("",) if n % 2 else ("", "12345")) for n, q in enumerate(QUESTIONS)]
    asks.append((QUESTIONS[0], 7, ("",)))  # asked twice: embedded once
    alone = [engine.ask(q, k, scopes) for q, k, scopes in asks]
    calls: list[int] = []
    encode = engine.embedder.encode

    def counting(texts, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(texts))
        return encode(texts, *args, **kwargs)

    monkeypatch.setattr(engine.embedder, "encode", counting)
    batcher = Batcher(engine.ask_many)
    batched = await asyncio.gather(*(batcher.ask(q, k, scopes) for q, k, scopes in asks))
    assert list(batcher.sizes) == [len(asks)] and calls == [len(set(QUESTIONS))]
    for b, a in zip(batched, alone, strict=True):
        same_answer(b, a)
    assert sum(a.answered for a in alone) >= 10  # real answers were compared, not empty ones


async def test_a_question_that_cannot_be_asked_fails_alone(engine: Engine) -> None:
    """An empty or oversized question gets its own polite error; the rest of its batch is
    answered."""
    batcher = Batcher(engine.ask_many)
    results = await asyncio.gather(
        batcher.ask(QUESTIONS[0]), batcher.ask("  \t "), batcher.ask("why " * 400),
        batcher.ask(QUESTIONS[1]), return_exceptions=True)
    assert list(batcher.sizes) == [4]
    assert isinstance(results[1], QuestionError) and "empty" in str(results[1])
    assert isinstance(results[2], QuestionError) and "1,000" in str(results[2])
    for got, question in ((results[0], QUESTIONS[0]), (results[3], QUESTIONS[1])):
        assert isinstance(got, Answer)
        same_answer(got, engine.ask(question))
    (direct,) = engine.ask_many([Query("")])  # returned in its place, not raised
    assert isinstance(direct, QuestionError)


async def test_questions_arriving_during_a_batch_form_the_next_and_set_the_wait(
        engine: Engine) -> None:
    """While one batch runs, newcomers queue and go together in the next; the measured time
    per question prices the queue."""
    batcher = Batcher(engine.ask_many)
    engine.lock.acquire()  # the first batch waits in its worker thread
    try:
        first = asyncio.ensure_future(batcher.ask(QUESTIONS[0]))
        await until(lambda: batcher.running == 1)
        rest = [asyncio.ensure_future(batcher.ask(q)) for q in SEEDS[:10]]
        await asyncio.sleep(0)
        assert batcher.pending == 11
        assert batcher.expected_wait() == pytest.approx(11 * batcher.seconds_per_question)
    finally:
        engine.lock.release()
    answers = await asyncio.gather(first, *rest)
    assert list(batcher.sizes) == [1, 10]
    assert batcher.pending == 0 and batcher.seconds_per_question > 0
    same_answer(answers[5], engine.ask(SEEDS[4]))


async def test_an_asker_that_gives_up_does_not_break_the_batch(engine: Engine) -> None:
    """A cancelled question (its asker went away) is skipped; the others get answers."""
    batcher = Batcher(engine.ask_many)
    gone = asyncio.ensure_future(batcher.ask(QUESTIONS[0]))
    kept = asyncio.ensure_future(batcher.ask(QUESTIONS[1]))
    await asyncio.sleep(0)
    gone.cancel()
    answer = await kept
    assert gone.cancelled()
    same_answer(answer, engine.ask(QUESTIONS[1]))
    assert list(batcher.sizes) == [1]
