"""Two ``citebot serve`` processes × two shards, four servers, one data directory and one real
PostgreSQL log: every answer logged once, an article added through any process citable in
all of them, ``kill -9`` of one leaving the other answering, and its restart resuming its
shards with nothing lost (``docs/scaling.md``; ``bench/scale_out.py`` measures the same
scenario). The slowest test of the suite: three process starts, each loading the models.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from index.retrieval.engine import Engine
from tests.postgres import in_thread, pg_execute
from tests.scale_out import (
    CONDOR_Q,
    CONDOR_TEXT,
    CONDOR_TITLE,
    GLACIER,
    GLACIER_Q,
    GLACIER_TITLE,
    JULI,
    JULI_ANSWER,
    Cluster,
    button_ids,
    run_cli,
)


def rows(url: str, query: str, *args: object) -> list[tuple[object, ...]]:
    return in_thread(pg_execute(url, query, *args))


@pytest.mark.asyncio
async def test_two_processes_share_the_articles_and_the_log_and_survive_a_kill(
        tmp_path: Path, shared_data_dir: Path, engine: Engine, pg_url: str) -> None:
    data = tmp_path / "data"
    shutil.copytree(shared_data_dir, data, ignore=shutil.ignore_patterns("logs.sqlite*"))
    # The processes' own check of the index every 2 minutes: within the test, only
    # PostgreSQL's NOTIFY can tell them of another process's change.
    cluster = await Cluster.create(data, pg_url, shard_count=4, follow_seconds=30)
    standin = cluster.standin
    g0, g1, g2, g3 = standin.guilds
    try:
        first, second = await cluster.start_two()
        assert {s.shard_id for s in standin.sessions.values()} == {0, 1, 2, 3}

        # Every server and a DM answered, each once, each logged once with its message.
        answers = {}
        for guild in (g0, g1, g2, g3, None):
            sent, message, _ = await cluster.ask(guild, JULI)
            assert JULI_ANSWER in str(sent.json["embeds"])
            answers[guild.id if guild else "dm"] = message
        for guild in (g0, g1, g2, g3):
            assert len(cluster.bot_posts(guild.channel_id)) == 1
        await asyncio.sleep(0.5)  # the processes' log writers run just after the send
        logged = rows(pg_url, "SELECT guild, answered, message_id FROM questions")
        assert sorted(str(g) for g, _, _ in logged) == sorted(
            ["", g0.id, g1.id, g2.id, g3.id])
        assert all(answered == 1 for _, answered, _ in logged)
        assert {m for _, _, m in logged} == {m["id"] for m in answers.values()}

        # An article added from a terminal beside the bots: citable through both processes.
        path = tmp_path / "glacier.md"
        path.write_text(GLACIER, encoding="utf-8")
        code, stderr, _ = await run_cli(cluster.env, "add", str(path))
        assert code == 0, stderr
        await cluster.until_cited(g0, GLACIER_Q, GLACIER_TITLE, timeout=15)
        await cluster.until_cited(g2, GLACIER_Q, GLACIER_TITLE, timeout=15)
        # ... and one added by a moderator through the second process: the first takes it
        # in, though only that server can cite it.
        added_at = time.monotonic()
        followup, _ = await cluster.add_article(g2, CONDOR_TITLE, CONDOR_TEXT)
        assert "Added" in str(followup.json), followup.json
        for _ in range(150):
            if first.saw("followed another process's change", after=added_at):
                break
            await asyncio.sleep(0.1)
        assert first.saw("followed another process's change", after=added_at), first.text()
        assert await cluster.cites(g2, CONDOR_Q, CONDOR_TITLE)

        # kill -9 of the first: the second keeps answering; the first's servers wait.
        await first.kill()
        sent, _, _ = await cluster.ask(g2, JULI)
        assert JULI_ANSWER in str(sent.json["embeds"])

        # Restarted, it resumes its shards, and the answers given before the kill still
        # work: a vote and a follow-up reach the question through the shared log.
        first = await cluster.start("first", "0-1")
        await cluster.ready(4)
        assert await cluster.cites(g0, GLACIER_Q, GLACIER_TITLE)
        assert standin.shards_of("MESSAGE_CREATE", channel_id=g0.channel_id)[-1] == 0
        before = answers[g0.id]
        inter = await standin.click(before, button_ids(before)["Helpful"])
        callback, _ = await standin.response(inter)
        assert "is recorded" in callback.json["data"]["content"]
        start = len(standin.requests)
        await standin.say("what happened next there?", guild=g0, reply_to=before)
        reply = await standin.wait_sent(g0.channel_id, start=start, timeout=60)
        assert reply.json.get("embeds"), reply.json  # answered, as a follow-up (logged below)
        question_id = button_ids(before)["Helpful"].rsplit(":", 1)[1]
        assert rows(pg_url, "SELECT helpful FROM feedback WHERE question_id = $1",
                    question_id) == [(1,)]

        assert await first.stop() == 0 and await second.stop() == 0
        follow_ups = rows(pg_url, "SELECT parent_id FROM questions WHERE text LIKE $1",
                          "%what happened next there?%")
        assert follow_ups == [(question_id,)]
        # Once each: every reply the bot posted is one logged question, and every answer
        # with citations (its buttons) one answered row naming its message, none twice.
        channel_posts = sum(len(cluster.bot_posts(g.channel_id)) for g in standin.guilds)
        dm_posts = len(cluster.bot_posts(standin.dm_channel(standin.alice)))
        assert rows(pg_url, "SELECT count(*) FROM questions") == [(channel_posts + dm_posts,)]
        answered = [m for (m,) in rows(
            pg_url, "SELECT message_id FROM questions WHERE answered = 1")]
        with_citations = [m["id"] for m in standin.messages.values()
                          if m["author"]["id"] == standin.bot_user["id"] and button_ids(m)
                          and m["channel_id"] in {g.channel_id for g in standin.guilds}
                          | {standin.dm_channel(standin.alice)}]
        assert sorted(answered) == sorted(with_citations)
    finally:
        await cluster.close()
