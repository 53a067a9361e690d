"""Log store throughput, and what logging adds to an answer when 100 questions arrive at once.

    python bench/logs.py [--records 50000] [--burst 100]

* sustained writes: ``--records`` questions (three citations each) and as many
  votes go through the store's queue as fast as the writer takes them; the
  figure is records written per second, end to end, on a real SQLite file;
* added latency: ``--burst`` questions are asked at once of a real engine over
  the bundled corpus (each in a worker thread, as the bot does), once logging
  to the store and once to ``NoLog``; per-question latency p50/p95/max of both
  runs, and the time of the logging call itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from index.config import LogSettings, load_settings  # noqa: E402
from index.logs import CitationRecord, LogStore, NoLog, Recorder, record_answer  # noqa: E402
from index.retrieval.engine import Engine  # noqa: E402

QUESTIONS = [
    "Why are people protesting in Peru?", "How many roadblocks were there?",
    "What happened in Juliaca?", "Who is Dina Boluarte?", "What do the protesters demand?",
    "What did the commenters say about the president?", "Which regions are in revolt?",
    "What role do rural communities play?", "Who captured soldiers?",
    "What is the recipe for paella?",
]


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 2),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
            "max": round(ordered[-1], 2)}


async def sustained(path: Path, records: int) -> dict[str, float]:
    store = await LogStore.open(path, LogSettings(queue_size=20_000))
    start = time.perf_counter()
    for n in range(records):
        while store._queue.qsize() > 15_000:  # the bench waits; callers never do
            await asyncio.sleep(0.001)
        qid = store.question(f"question number {n}", mode="slash", answered=True,
                             latency_ms=12.5, guild="g", channel="c", user=f"u{n % 500}",
                             citations=[CitationRecord(r, f"p{n}-{r}", f"d{r}", 0.5)
                                        for r in (1, 2, 3)])
        store.feedback(qid, f"u{n % 500}", helpful=n % 2 == 0)
        if n % 500 == 0:
            await asyncio.sleep(0)
    await store.close()
    seconds = time.perf_counter() - start
    return {"records": 2 * records, "seconds": round(seconds, 2),
            "records_per_second": round(2 * records / seconds),
            "questions_per_second": round(records / seconds), "dropped": store.dropped}


async def burst(engine: Engine, logs: Recorder, size: int) -> dict[str, object]:
    log_calls: list[float] = []

    async def one(n: int) -> float:
        start = time.perf_counter()
        question = QUESTIONS[n % len(QUESTIONS)]
        answer = await asyncio.to_thread(engine.ask, question)
        before = time.perf_counter()
        record_answer(logs, answer, (before - start) * 1000, "slash", model=engine.embedder.name,
                      index_version=engine.index_version, guild="g", user=str(n))
        log_calls.append((time.perf_counter() - before) * 1e6)
        return (time.perf_counter() - start) * 1000

    latencies = await asyncio.gather(*(one(n) for n in range(size)))
    await logs.close()
    return {"answer_ms": percentiles(list(latencies)), "log_call_us": percentiles(log_calls)}


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    base = load_settings()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        results: dict[str, object] = {
            "sustained_writes": await sustained(tmp / "sustained.sqlite", args.records)}
        engine = Engine.open(base)
        await burst(engine, NoLog(), 20)  # warm up threads and caches
        results[f"burst_{args.burst}_without_log"] = await burst(engine, NoLog(), args.burst)
        store = await LogStore.open(tmp / "burst.sqlite")
        results[f"burst_{args.burst}_with_log"] = await burst(engine, store, args.burst)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--burst", type=int, default=100)
    print(json.dumps(asyncio.run(main_async(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
