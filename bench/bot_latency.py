"""Reply latency of the Discord bot through the local stand-in, and event-loop blocking.

    python bench/bot_latency.py [--users 1 10 50] [--rounds 3] [--max-pending N]
                                [--max-wait SECONDS] [--no-debug]

The real discord.py client with citebot's cogs connects to the Discord stand-in
(``tests/discord_standin.py``, on 127.0.0.1, in a process of its own by
default, as Discord's servers are not on the bot's machine; ``--standin thread``
runs it in a thread of the bot's process instead, where it also takes the bot's
interpreter lock). For each number of users,
that many people mention the bot with a question at the same moment,
``--rounds`` times (or more, so that every figure rests on at least 30
replies); the figure is the time from the injected MESSAGE_CREATE to the bot's
reply arriving at the stand-in, p50/p95/max. The bot's loop runs in asyncio
debug mode (unless ``--no-debug``; debug mode records a stack for every
callback, which costs the bot time under load): every callback that held it
longer than 20 ms is reported, and a 10 ms ticker records the longest the loop
was late. Replies that say "busy"
(the queued work priced over ``--max-wait`` seconds, or ``--max-pending``
questions in flight; the config defaults unless given) are counted separately.

Also reported per number of users: how long the stand-in took to deliver all
the questions of a wave (``inject_ms``: the replies cannot all be faster than
the last question arrives), and the model calls the bot made (``batches``,
mean and largest batch size), since questions asked together are embedded in
one call (``index.retrieval.batching``), and the CPU time of a wave (median, ms,
every thread) in the bot's process and in the stand-in's: on 2 cores the last
reply of a wave cannot come sooner than their sum over 2.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import multiprocessing
import re
import statistics
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import discord  # noqa: E402
import yarl  # noqa: E402

from bot.app import CitebotBot  # noqa: E402
from index.config import load_settings  # noqa: E402
from index.logs import LogStore  # noqa: E402
from index.retrieval.engine import Engine  # noqa: E402
from tests.discord_standin import DiscordStandin  # noqa: E402

QUESTIONS = [json.loads(line)["question"] for line in
             (HERE / "data" / "seed_questions.jsonl").read_text().splitlines() if line]


class SlowCallbacks(logging.Handler):
    """Collects asyncio debug-mode reports: 'Executing <...> took 0.123 seconds'."""

    def __init__(self) -> None:
        super().__init__()
        self.durations: list[float] = []
        self.worst = ""

    def emit(self, record: logging.LogRecord) -> None:
        match = re.search(r"took ([0-9.]+) seconds", record.getMessage())
        if match:
            seconds = float(match.group(1))
            if not self.durations or seconds > max(self.durations):
                self.worst = record.getMessage()[:300]
            self.durations.append(seconds)


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 1),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
            "max": round(ordered[-1], 1)}


Wave = tuple[list[float], int, float, float]
"""A wave's reply latencies (ms), busy replies, delivery time (ms) and the CPU time the
stand-in's process spent on it (ms, every thread)."""


async def wave(standin: DiscordStandin, users: list[dict[str, Any]], offset: int) -> Wave:
    """Everyone asks at once; the latency of each reply (ms), how many said busy, how
    long delivering the questions took (ms) and the CPU time of the stand-in's process
    meanwhile (ms). Runs on the stand-in's own loop."""
    asked = []
    cpu = time.process_time()
    began = time.perf_counter()
    for n, user in enumerate(users):
        question = QUESTIONS[(offset + n) % len(QUESTIONS)]
        start = time.perf_counter()
        message = await standin.say(question, user=user, mention_bot=True)
        asked.append((message["id"], start))
    injected = (time.perf_counter() - began) * 1000
    latencies, busy = [], 0
    for message_id, start in asked:
        reply = await standin.wait_for(
            lambda c, m=message_id: c.method == "POST" and isinstance(c.json, dict)
            and str((c.json.get("message_reference") or {}).get("message_id")) == m,
            timeout=300)
        latencies.append((reply.at - start) * 1000)
        busy += "busy" in (reply.json.get("content") or "")
    return latencies, busy, injected, (time.process_time() - cpu) * 1000


class _Crowd:
    """The same people for every wave of one size."""

    def __init__(self, standin: DiscordStandin) -> None:
        self.standin = standin
        self.people: dict[int, list[dict[str, Any]]] = {}

    async def wave(self, count: int, offset: int) -> Wave:
        users = self.people.setdefault(
            count, [self.standin._user(f"user{count}-{n}") for n in range(count)])
        return await wave(self.standin, users, offset)


class StandinThread:
    """The stand-in on its own loop in a thread of the bot's process (``--standin thread``).

    It then shares the bot's interpreter lock, so its own work (delivering 50
    messages, receiving 50 replies) is paid for in the bot's latency.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.standin: DiscordStandin = self._call_sync(self._make())
        self.crowd = _Crowd(self.standin)
        self.base_url, self.ws_url, self.token = (
            self.standin.base_url, self.standin.ws_url, self.standin.token)

    async def _make(self) -> DiscordStandin:
        standin = DiscordStandin()
        await standin.start()
        return standin

    def _call_sync(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    async def wave(self, count: int, offset: int) -> Wave:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
            self.crowd.wave(count, offset), self.loop))

    async def close(self) -> None:
        self._call_sync(self.standin.close())


def _standin_main(conn: Connection) -> None:
    """The stand-in process: start, say where it listens, then run waves on request."""

    async def serve() -> None:
        standin = DiscordStandin()
        await standin.start()
        crowd = _Crowd(standin)
        conn.send((standin.base_url, standin.ws_url, standin.token))
        while True:
            command = await asyncio.to_thread(conn.recv)
            if command[0] == "close":
                await standin.close()
                conn.send(None)
                return
            conn.send(await crowd.wave(*command[1:]))

    asyncio.run(serve())


class StandinProcess:
    """The stand-in in a process of its own (``--standin process``, the default).

    Discord's servers do not run on the bot's machine; here the stand-in still
    shares the two cores, but not the bot's interpreter lock.
    """

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_standin_main, args=(child,), daemon=True)
        self.process.start()
        self.base_url, self.ws_url, self.token = self.conn.recv()

    def _ask(self, *command: Any) -> Any:
        self.conn.send(command)
        return self.conn.recv()

    async def wave(self, count: int, offset: int) -> Wave:
        return await asyncio.to_thread(self._ask, "wave", count, offset)

    async def close(self) -> None:
        await asyncio.to_thread(self._ask, "close")
        self.process.join(10)


async def ticker(worst: list[float]) -> None:
    while True:
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        worst[0] = max(worst[0], time.perf_counter() - before - 0.01)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    loop.set_debug(not args.no_debug)
    loop.slow_callback_duration = 0.02
    slow = SlowCallbacks()
    logging.getLogger("asyncio").addHandler(slow)
    logging.getLogger("asyncio").setLevel(logging.WARNING)

    side = StandinProcess() if args.standin == "process" else StandinThread()
    discord.http.Route.BASE = side.base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(side.ws_url + "/")
    data = Path(tempfile.mkdtemp(prefix="citebot-bench-bot-"))
    settings = load_settings(environ={})
    settings = dataclasses.replace(
        settings, index=dataclasses.replace(settings.index, data_dir=str(data)),
        discord=dataclasses.replace(
            settings.discord, cooldown_seconds=0.0,
            max_pending=args.max_pending or settings.discord.max_pending,
            max_wait_seconds=args.max_wait or settings.discord.max_wait_seconds))
    engine = await asyncio.to_thread(Engine.open, settings)
    logs = await LogStore.open(data / "logs.sqlite", settings.logs)
    bot = CitebotBot(settings, engine=engine, logs=logs, guild_ready_timeout=0.05)
    if args.max_batch:
        bot.batcher.max_batch = args.max_batch
    await bot.login(side.token)
    connection = asyncio.create_task(bot.connect(reconnect=False))
    await asyncio.wait_for(bot.wait_until_ready(), 60)
    await side.wave(1, 0)  # warm-up, not counted
    slow.durations.clear()
    slow.worst = ""
    worst = [0.0]
    tick = asyncio.create_task(ticker(worst))
    results: dict[str, Any] = {"max_pending": settings.discord.max_pending,
                               "max_wait_seconds": settings.discord.max_wait_seconds,
                               "rounds": args.rounds, "standin": args.standin,
                               "model_precision": engine.embedder.precision}
    for count in args.users:
        latencies: list[float] = []
        busy = 0
        injected: list[float] = []
        bot_cpu: list[float] = []
        standin_cpu: list[float] = []
        bot.batcher.sizes.clear()
        # at least 30 replies per figure: one user alone asks again and again
        for round_ in range(max(args.rounds, -(-30 // count))):
            cpu = time.process_time()
            got, b, took, side_cpu = await side.wave(count, round_ * count)
            bot_cpu.append((time.process_time() - cpu) * 1000)
            standin_cpu.append(side_cpu)
            latencies += got
            busy += b
            injected.append(took)
        sizes = list(bot.batcher.sizes)
        results[f"{count}_users"] = {"replies": len(latencies), "busy": busy,
                                     "asyncio_debug": not args.no_debug,
                                     "inject_ms": round(max(injected), 1),
                                     "batches": {"count": len(sizes),
                                                 "mean_size": round(
                                                     statistics.mean(sizes or [0]), 1),
                                                 "max_size": max(sizes, default=0)},
                                     "reply_ms": percentiles(latencies),
                                     "cpu_ms_per_wave": {
                                         "bot": round(statistics.median(bot_cpu), 1),
                                         "standin": round(statistics.median(standin_cpu), 1)}}
        print(json.dumps({f"{count}_users": results[f"{count}_users"]}), flush=True)
    tick.cancel()
    results["event_loop"] = {
        "slow_callbacks_over_20ms": len(slow.durations),
        "longest_slow_callback_ms": round(max(slow.durations, default=0.0) * 1000, 1),
        "longest_late_wakeup_ms": round(worst[0] * 1000, 1),
        "worst_report": slow.worst,
    }
    await bot.close()
    await connection
    await side.close()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="*", default=[1, 10, 50])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--standin", choices=("process", "thread"), default="process",
                        help="run the stand-in in a process of its own (as Discord is not "
                             "on the bot's machine) or in a thread of the bot's process")
    parser.add_argument("--no-debug", action="store_true",
                        help="run the loop as in production: asyncio debug mode records a "
                             "stack for every callback, which slows the bot down under load "
                             "(no slow-callback report then; the ticker still runs)")
    parser.add_argument("--max-batch", type=int, default=0,
                        help="questions per model call at most (default: the batcher's)")
    parser.add_argument("--max-pending", type=int, default=0,
                        help="questions in flight at most (default: the config's)")
    parser.add_argument("--max-wait", type=float, default=0.0,
                        help="busy beyond this many seconds of queued work (default: the "
                             "config's)")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
