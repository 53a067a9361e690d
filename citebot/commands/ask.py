"""``citebot ask``: answer a question, or one per line of standard input, with cited
passages, and record each in the conversation log."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from typing import TYPE_CHECKING

from citebot.commands.common import open_engine
from citebot.exits import EXIT_OK, EXIT_TERMINATED
from citebot.terminal import print_json, render_answer
from index.config import Settings
from index.errors import CitebotError, QuestionError

if TYPE_CHECKING:
    from index.logs import Recorder
    from index.retrieval import Engine


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot ask``: answer one question, or one per line of standard input."""
    if args.top_k is not None and not 1 <= args.top_k <= 50:
        raise CitebotError("--top-k must be between 1 and 50")
    from index.articles import check_scope

    scopes = ("", check_scope(args.scope))
    from_stdin = args.question == ["-"]
    if not from_stdin and not " ".join(args.question).strip():
        raise QuestionError(
            'the question is empty: ask something, e.g. "Why are people protesting in Peru?"'
        )
    engine = open_engine(settings)
    return asyncio.run(_ask_all(args, settings, engine, scopes, from_stdin))


async def _ask_all(args: argparse.Namespace, settings: Settings, engine: Engine,
                   scopes: tuple[str, ...], from_stdin: bool) -> int:
    """Answer and log each question; SIGTERM stops after flushing the log."""
    from index.logs import NoLog, open_log

    logs = NoLog() if args.no_log else await open_log(settings.logs, settings.log_path)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    terminated = False

    def on_term() -> None:
        """Cancel the main task rather than die, so ``finally`` still closes (flushes) the log."""
        nonlocal terminated
        terminated = True
        if main is not None:
            main.cancel()

    loop.add_signal_handler(signal.SIGTERM, on_term)
    try:
        if not from_stdin:
            await _ask_one(" ".join(args.question), args, engine, scopes, logs, single=True)
            return EXIT_OK
        while line := await asyncio.to_thread(sys.stdin.readline):
            await _ask_one(line.rstrip("\n"), args, engine, scopes, logs, single=False)
        return EXIT_OK
    except asyncio.CancelledError:
        if not terminated:
            raise
        print("citebot: terminated; the log is flushed", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await logs.close()


async def _ask_one(raw: str, args: argparse.Namespace, engine: Engine,
                   scopes: tuple[str, ...], logs: Recorder, single: bool) -> None:
    """Answer, log and print one question.

    A refused question ends a single ``ask`` with an error, but in a stream from
    standard input it is reported in place and the next line is read; output is
    flushed after each answer so a pipe sees it as it comes.
    """
    from index.logs import record_answer

    start = time.perf_counter()
    try:
        answer = await asyncio.to_thread(engine.ask, raw, args.top_k, scopes)
    except QuestionError as exc:
        if single:
            raise
        if args.json:
            print_json({"question": raw, "answered": False, "results": [], "error": str(exc)})
        else:
            print(f"citebot: {exc}\n")
        sys.stdout.flush()
        return
    record_answer(logs, answer, (time.perf_counter() - start) * 1000, "command_line",
                  model=engine.embedder.name, index_version=engine.index_version,
                  guild=args.scope)
    if args.json:
        print_json(answer.to_json())
    elif single:
        print(render_answer(answer, bold=sys.stdout.isatty()))
    else:
        print(f"Q: {answer.question}\n{render_answer(answer, sys.stdout.isatty())}\n")
    sys.stdout.flush()
