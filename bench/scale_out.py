"""Two ``citebot serve`` processes × two shards on four servers, sharing one data directory
and one log: what docs/scaling.md reports.

    python bench/scale_out.py [--log postgresql|sqlite] [--questions 40] [--adds 3]

The processes are started as a host starts them (``citebot -v serve --shard-ids 0-1
--shard-count 4`` and ``2-3``) against the Discord stand-in on 127.0.0.1
(``tests/scale_out.py``, the scenario the test asserts); the log is a real
PostgreSQL server started here (pgserver, the dev extra), or with ``--log
sqlite`` one SQLite file for both (then the processes learn of changes only by
polling the index's manifest, where PostgreSQL's NOTIFY wakes them at once).

Printed:
- start: seconds from launching both processes to all four shards connected, and each
  process's resident memory after it answered;
- answers: questions spread over the four servers and a DM, the answers posted, and the
  answered rows in the log (every answer logged exactly once: all three equal, no message
  id twice);
- add to citable: ``citebot add`` run beside the bots (a global article), then the time
  until a server of each process cites it, ``--adds`` times; and ``citebot remove`` until
  neither does; and a moderator's ``/article add`` through one process until the other
  has taken it in (its log line);
- kill -9: the other process's answer right after, the killed one's restart until its
  shards are back, and whether a vote and a follow-up on answers given before the kill
  still work (they read the question from the shared log).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.postgres import pg_execute, with_database  # noqa: E402
from tests.scale_out import (  # noqa: E402
    CONDOR_Q,
    CONDOR_TEXT,
    CONDOR_TITLE,
    JULI,
    Cluster,
    Host,
    button_ids,
    run_cli,
)

ARTICLE = """---
title: {title}
author: A. Reporter
---

The {place} glacier in the Cordillera Blanca has lost half of its ice since 1980, and
guides now lead climate walks across the bare rock where the ice used to be.

Villagers below the {place} glacier fear for the water that feeds their potato fields.
"""
PLACES = ["Pastoruri", "Yanamarey", "Broggi", "Uruashraju", "Queshque"]


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    return (f"median {statistics.median(values):.2f} s, max {max(values):.2f} s "
            f"(n={len(values)})")


async def scenario(args: argparse.Namespace, work: Path, url: str) -> None:
    data = work / "data"
    code, err, _ = await run_cli({**os.environ, "CITEBOT_DATA_DIR": str(data)}, "index")
    assert code == 0, err
    cluster = await Cluster.create(data, url, shard_count=4)
    standin = cluster.standin
    g0, g1, g2, g3 = standin.guilds
    try:
        began = time.monotonic()
        first, second = await cluster.start_two()
        print(f"start: both processes to 4 shards connected: {time.monotonic() - began:.1f} s")

        targets = [g0, g1, g2, g3, None]
        answers = {}
        latencies = []
        for n in range(args.questions):
            guild = targets[n % len(targets)]
            _, message, took = await cluster.ask(guild, JULI)
            latencies.append(took)
            answers.setdefault(guild.id if guild else "dm", message)
        print(f"resident memory after answering: first {first.rss_mb():.0f} MB, "
              f"second {second.rss_mb():.0f} MB")
        posts = sum(len(cluster.bot_posts(g.channel_id)) for g in standin.guilds) + len(
            cluster.bot_posts(standin.dm_channel(standin.alice)))
        await asyncio.sleep(1)
        rows = await log_rows(url, "SELECT message_id FROM questions WHERE answered = 1")
        ids = [m for (m,) in rows]
        print(f"answers: {args.questions} asked over 4 servers and a DM, {posts} posted, "
              f"{len(ids)} answered rows in the log, {len(ids) - len(set(ids))} message ids "
              f"logged twice; reply {summary(latencies)}")

        taken: dict[str, list[float]] = {"first": [], "second": []}
        gone: dict[str, list[float]] = {"first": [], "second": []}
        for n in range(args.adds):
            place = PLACES[n % len(PLACES)]
            title = f"The shrinking glacier of {place} ({n})"
            path = work / f"article-{n}.md"
            path.write_text(ARTICLE.format(title=title, place=place), encoding="utf-8")
            question = f"How much ice has the {place} glacier lost since 1980?"
            began = time.monotonic()
            code, err, _ = await run_cli(cluster.env, "add", str(path))
            assert code == 0, err
            for host, times in zip((first, second), (taken["first"], taken["second"]),
                                   strict=True):
                times.append(await took_in(host, began) - published(data, began))
            assert await cluster.cites(g0, question, title)
            assert await cluster.cites(g2, question, title)
            doc_id = await added_id(cluster, title)
            began = time.monotonic()
            code, err, _ = await run_cli(cluster.env, "remove", doc_id)
            assert code == 0, err
            for host, times in zip((first, second), (gone["first"], gone["second"]),
                                   strict=True):
                times.append(await took_in(host, began) - published(data, began))
            assert not await cluster.cites(g0, question, title)
            assert not await cluster.cites(g2, question, title)
        for name in ("first", "second"):
            print(f"citebot add, published -> taken in by the {name} process (then cited): "
                  f"{summary(taken[name])}")
        for name in ("first", "second"):
            print(f"citebot remove, published -> taken in by the {name} process: "
                  f"{summary(gone[name])}")

        asked = time.monotonic()
        _, took = await cluster.add_article(g2, CONDOR_TITLE, CONDOR_TEXT)
        seen = await took_in(first, asked)
        print(f"/article add through the second process: reply {took:.2f} s after the "
              f"command; published -> taken in by the first: "
              f"{seen - published(data, asked):.2f} s")
        assert await cluster.cites(g2, CONDOR_Q, CONDOR_TITLE)

        killed = time.monotonic()
        await first.kill()
        _, _, took = await cluster.ask(g2, JULI)
        print(f"kill -9 of the first: the second answered {took * 1000:.0f} ms later")
        began = time.monotonic()
        first = await cluster.start("first", "0-1")
        await cluster.ready(4)
        print(f"restart of the first until its shards were back: "
              f"{time.monotonic() - began:.1f} s ({time.monotonic() - killed:.1f} s since "
              "the kill)")
        before = answers[g0.id]
        inter = await standin.click(before, button_ids(before)["Helpful"])
        callback, _ = await standin.response(inter)
        start = len(standin.requests)
        await standin.say("what happened next there?", guild=g0, reply_to=before)
        await standin.wait_sent(g0.channel_id, start=start, timeout=60)
        question_id = button_ids(before)["Helpful"].rsplit(":", 1)[1]
        await first.stop()
        await second.stop()
        voted = await log_rows(url, "SELECT helpful FROM feedback WHERE question_id = $1",
                               question_id)
        linked = await log_rows(url, "SELECT count(*) FROM questions WHERE parent_id = $1",
                                question_id)
        print(f"after the restart, on an answer given before the kill: vote "
              f"{callback.json['data']['content']!r} (rows {voted}); follow-up linked to it: "
              f"{linked[0][0]} row")
        posts = sum(len(cluster.bot_posts(g.channel_id)) for g in standin.guilds) + len(
            cluster.bot_posts(standin.dm_channel(standin.alice)))
        rows = await log_rows(url, "SELECT message_id, answered FROM questions")
        ids = [m for m, _ in rows if m]
        print(f"whole run: {posts} replies posted (answers, and \"nothing found\" after the "
              f"removes); {len(rows)} questions logged, {sum(1 for _, a in rows if a)} of "
              f"them answered with citations, {len(ids)} with their answer's message id, "
              f"{len(ids) - len(set(ids))} message ids twice")
    finally:
        await cluster.close()


async def took_in(host: Host, since: float, timeout: float = 60) -> float:
    """When (``time.monotonic``) ``host`` logged, after ``since``, that it took in another
    process's change (``index.retrieval.indexer.follow_index``; read from its stderr)."""
    while time.monotonic() - since < timeout:
        seen = host.saw("followed another process's change", after=since)
        if seen is not None:
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"{host.name} did not take the change in within {timeout} s")


def published(data: Path, since: float) -> float:
    """When (``time.monotonic``) the index manifest was last published: its ``CURRENT``
    file's modification time, moved to the monotonic clock."""
    moved = (data / "index" / "CURRENT").stat().st_mtime - (time.time() - time.monotonic())
    assert moved >= since - 0.05, "the manifest was not published by that command"
    return moved


async def added_id(cluster: Cluster, title: str) -> str:
    """The id ``citebot list`` gives the article titled ``title``."""
    import json

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "citebot", "list", "--json", env={**os.environ, **cluster.env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await process.communicate()
    listed = [json.loads(line) for line in out.splitlines() if line.strip()]  # JSON lines
    return next(a["doc_id"] for a in listed if a["title"] == title)


async def log_rows(url: str, query: str, *args: object) -> list[tuple[object, ...]]:
    if url.startswith("sqlite"):
        import sqlite3

        numbered = query.replace("$1", "?")
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            return db.execute(numbered, args).fetchall()
    return await pg_execute(url, query, *args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--adds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="citebot-scale-out-") as tmp:
        work = Path(tmp)
        if args.log == "sqlite":
            asyncio.run(scenario(args, work, f"sqlite:///{work / 'logs.sqlite'}"))
            return
        import pgserver

        server = pgserver.get_server(work / "pg", cleanup_mode="stop")
        try:
            uri = server.get_uri()
            asyncio.run(pg_execute(uri, 'CREATE DATABASE "citebot"'))
            asyncio.run(scenario(args, work, with_database(uri, "citebot")))
        finally:
            server.cleanup()
            shutil.rmtree(work / "pg", ignore_errors=True)


if __name__ == "__main__":
    main()
