"""Shards: one process runs some of the bot's shards (``citebot serve --shard-ids 0-3
--shard-count 8``), and each hears only its own servers, as on Discord.

The real bot runs against the stand-in, which routes every event to the session of the
shard that owns its guild and records where each one went (``deliveries``); guilds are
placed on chosen shards by the stand-in's ``shard_count``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
import pytest_asyncio
import yarl

from bot.app import CitebotBot
from index.config import load_settings
from index.errors import ConfigError
from index.logs import LogStore
from index.retrieval.engine import Engine
from tests.conftest import cli_in_process, make_settings
from tests.discord_standin import DiscordStandin, shard_of

from .test_discord_bot import JULI, ask_slash, check_everything_sent, embed_text

ANSWERED = "set fire to judicial office buildings"

Start = Callable[..., Awaitable[tuple[DiscordStandin, CitebotBot]]]


@pytest_asyncio.fixture
async def sharded(engine: Engine, shared_data_dir: Path, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    """Start a stand-in whose guild n is on shard ``n % standin_shards``, and a bot running
    ``shard_ids`` of ``shard_count`` on it, ready (every shard of the process)."""
    running: list[tuple[DiscordStandin, CitebotBot, asyncio.Task[None]]] = []

    async def start(shard_ids: list[int], shard_count: int, *, guilds: int = 2,
                    standin_shards: int = 2) -> tuple[DiscordStandin, CitebotBot]:
        standin = DiscordStandin(guilds=guilds, shard_count=standin_shards)
        await standin.start()
        monkeypatch.setattr(discord.http.Route, "BASE", standin.base_url)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY",
                            yarl.URL(standin.ws_url + "/"))
        settings = make_settings(shared_data_dir, discord={
            "cooldown_seconds": 0.0, "shard_ids": shard_ids, "shard_count": shard_count})
        logs = await LogStore.open(tmp_path / "logs.sqlite", settings.logs)
        bot = CitebotBot(settings, engine=engine, logs=logs, guild_ready_timeout=0.05)

        async def identify_at_once(shard_id: int | None, *, initial: bool = False) -> None:
            """Discord's 5 s between two IDENTIFYs is not what these tests are about."""

        monkeypatch.setattr(bot, "before_identify_hook", identify_at_once)
        await bot.login(standin.token)
        task = asyncio.create_task(bot.connect(reconnect=False))
        running.append((standin, bot, task))
        await asyncio.wait_for(bot.wait_until_ready(), 20)
        return standin, bot

    yield start
    for standin, bot, task in running:
        await bot.close()
        await asyncio.wait_for(task, 10)
        await standin.close()
        check_everything_sent(standin.sent_by_bot())


async def mention(standin: DiscordStandin, **kw: Any) -> tuple[dict[str, Any], str]:
    """Ask JULI with a mention (in a guild, or ``dm=True``); the message and where the bot
    answered it, once it has."""
    channel = standin.dm_channel(standin.alice) if kw.get("dm") else kw["guild"].channel_id
    begin = len(standin.requests)
    asked = await standin.say(JULI, mention_bot=True, **kw)
    sent = await standin.wait_sent(channel, start=begin, timeout=30)
    assert ANSWERED in embed_text(sent.json)
    return asked, channel


# --- the bot runs its shards ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_one_process_runs_two_shards_and_answers_each_guild_on_its_own(
        sharded: Start) -> None:
    """Shards 0 and 1 of 2 in one process: each guild's mention is answered in that guild, a
    DM on shard 0, and every event travelled on the shard that owns it."""
    standin, bot = await sharded([0, 1], 2)
    await standin.wait_shards(2, timeout=5)
    first, second = standin.guilds
    assert (shard_of(first.id, 2), shard_of(second.id, 2)) == (0, 1)
    assert sorted(standin.sessions) == [0, 1]
    assert [s.shard_count for s in standin.sessions.values()] == [2, 2]
    assert standin.shards_of("READY") == [0, 1]
    assert standin.shards_of("GUILD_CREATE", id=first.id) == [0]
    assert standin.shards_of("GUILD_CREATE", id=second.id) == [1]
    assert {g.id: g.shard_id for g in bot.guilds} == {int(first.id): 0, int(second.id): 1}

    for shard, guild in enumerate(standin.guilds):
        asked, channel = await mention(standin, guild=guild)
        assert standin.shards_of("MESSAGE_CREATE", id=asked["id"]) == [shard]
        # the bot's own answer comes back to it on the same shard
        assert set(standin.shards_of("MESSAGE_CREATE", channel_id=channel)) == {shard}
    asked, dm = await mention(standin, dm=True)
    assert standin.shards_of("MESSAGE_CREATE", id=asked["id"]) == [0]
    assert set(standin.shards_of("MESSAGE_CREATE", channel_id=dm)) == {0}

    _, followup = await ask_slash(standin, JULI, guild=second)
    assert followup is not None and ANSWERED in embed_text(followup.json)
    assert standin.shards_of("INTERACTION_CREATE", guild_id=second.id) == [1]


@pytest.mark.asyncio
async def test_a_process_running_shard_1_never_hears_shard_0(sharded: Start) -> None:
    """Shard 1 of 2 alone: guild 0's messages and interactions and every DM go to no
    session of this bot (another process would run shard 0); guild 1 is answered."""
    standin, bot = await sharded([1], 2)
    first, second = standin.guilds
    assert list(standin.sessions) == [1] and standin.identify["shard"] == [1, 2]
    ready = next(d.data for d in standin.deliveries if d.event == "READY")
    assert [g["id"] for g in ready["guilds"]] == [second.id] and ready["shard"] == [1, 2]
    assert [g.id for g in bot.guilds] == [int(second.id)]
    assert (bot.shard_ids, bot.shard_count) == ([1], 2)

    elsewhere = await standin.say(JULI, mention_bot=True, guild=first)
    in_dm = await standin.say(JULI, dm=True)
    inter = await standin.slash("ask", [{"name": "question", "type": 3, "value": JULI}],
                                guild=first)
    assert standin.shards_of("MESSAGE_CREATE", id=elsewhere["id"]) == [None]
    assert standin.shards_of("MESSAGE_CREATE", id=in_dm["id"]) == [None]
    assert standin.shards_of("INTERACTION_CREATE", id=inter["id"]) == [None]

    await mention(standin, guild=second)
    assert {d.shard for d in standin.deliveries} == {1, None}
    dm = standin.dm_channel(standin.alice)
    assert not [c for c in standin.requests if c.path in (
        f"/channels/{first.channel_id}/messages", f"/channels/{dm}/messages")
        or c.path.startswith(f"/interactions/{inter['id']}/")]


@pytest.mark.asyncio
async def test_without_a_shard_count_the_bot_runs_as_many_shards_as_discord_recommends(
        sharded: Start) -> None:
    """shard_count 0: discord.py asks /gateway/bot, which recommends 2, and runs both."""
    standin, bot = await sharded([], 0)
    assert bot.shard_count == 2 and sorted(standin.sessions) == [0, 1]
    assert {g.id: g.shard_id for g in bot.guilds} == {int(g.id): n
                                                      for n, g in enumerate(standin.guilds)}
    asked, _ = await mention(standin, guild=standin.guilds[1])
    assert standin.shards_of("MESSAGE_CREATE", id=asked["id"]) == [1]


@pytest.mark.asyncio
async def test_a_dropped_shard_resumes_and_gets_what_it_missed(sharded: Start) -> None:
    """Shard 1's websocket breaks: discord.py RESUMEs that session (no new READY), the
    question sent meanwhile reaches it, and shard 0 carried on untouched."""
    standin, bot = await sharded([0, 1], 2)
    session = standin.sessions[1].session_id
    resumed = asyncio.create_task(bot.wait_for("shard_resumed", timeout=20))
    await standin.drop(1)
    asked, _ = await mention(standin, guild=standin.guilds[1])
    assert await resumed == 1
    assert standin.sessions[1].session_id == session
    assert standin.shards_of("READY") == [0, 1] and standin.shards_of("RESUMED") == [1]
    assert standin.shards_of("MESSAGE_CREATE", id=asked["id"]) == [1]
    await mention(standin, guild=standin.guilds[0])


# --- the stand-in keeps Discord's rules -------------------------------------------------------


@pytest.mark.asyncio
async def test_standin_refuses_a_shard_outside_the_count_and_defaults_to_one_shard() -> None:
    """IDENTIFY with shard [2, 2] closes with 4010 (Invalid shard); without a shard the
    session is shard 0 of 1 and gets every guild."""
    standin = DiscordStandin(guilds=2, shard_count=2)
    await standin.start()

    async def identify(http: aiohttp.ClientSession, **shard: Any
                       ) -> aiohttp.ClientWebSocketResponse:
        ws = await http.ws_connect(standin.ws_url)
        assert (await ws.receive_json())["op"] == 10
        await ws.send_json({"op": 2, "d": {"token": standin.token, "intents": 1, **shard}})
        return ws

    try:
        async with aiohttp.ClientSession() as http:
            refused = await identify(http, shard=[2, 2])
            closing = await refused.receive()
            assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 4010)
            assert standin.sessions == {}
            whole = await identify(http)
            await standin.wait_shards(1, timeout=5)
            ready = await whole.receive_json()
            assert ready["t"] == "READY" and ready["d"]["shard"] == [0, 1]
            assert [g["id"] for g in ready["d"]["guilds"]] == [g.id for g in standin.guilds]
            await whole.close()
    finally:
        await standin.close()


def test_standin_guilds_land_on_the_shards_asked_for() -> None:
    """Guild n of a 4-shard stand-in is on shard n % 4 and its id is still a snowflake of
    about now (Discord's epoch, milliseconds in the top bits)."""
    standin = DiscordStandin(guilds=6, shard_count=4)
    assert [shard_of(g.id, 4) for g in standin.guilds] == [0, 1, 2, 3, 0, 1]
    assert len({g.id for g in standin.guilds}) == 6
    made = [(int(g.id) >> 22) + 1420070400000 for g in standin.guilds]
    assert max(made) - min(made) < 10 and abs(made[0] / 1000 - time.time()) < 60


# --- settings and the command line ------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--shard-ids", "3", "--shard-count", "2"],
     "--shard-ids has shard 3, but with --shard-count 2 the shard ids run from 0 to 1"),
    (["--shard-ids", "x"], "argument --shard-ids: 'x' is not a list of shard ids; write ids "
                           "and ranges such as 0-3, 0,2,5 or 0-1,4"),
    (["--shard-ids", "0-3"], "--shard-ids needs --shard-count: set it to the number of shards"),
    (["--shard-ids", "3-1", "--shard-count", "4"], "the range 3-1 runs backwards; write 1-3"),
    (["--shard-ids", "0-1,1", "--shard-count", "4"], "'0-1,1' lists a shard more than once"),
    (["--shard-count", "-1"], "'-1' is not a number of shards"),
])
def test_bad_shard_flags_are_a_usage_error_with_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    """Each mistake in the shard flags: exit 2 (a usage error, before the token is even
    looked at), its last line saying what to write, and no traceback."""
    run = cli_in_process(monkeypatch, {"CITEBOT_DATA_DIR": str(tmp_path)})
    result = run("serve", *args, env={"DISCORD_TOKEN": ""})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert lines[-1].startswith("citebot serve: error: ") and message in lines[-1]
    assert len(lines) <= 2 and "Traceback" not in result.stderr  # argparse's usage, the error


def test_flags_override_the_config_and_serve_says_which_shards_it_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The config's shard_count with --shard-ids from the command line: the bot is given
    shards 0-3 of 8, and serve says so on its first line."""
    config = tmp_path / "citebot.toml"
    config.write_text("[discord]\nshard_count = 8\nshard_ids = [5]\n", encoding="utf-8")
    given: list[tuple[list[int], int]] = []

    def run_bot(settings: Any, token: str) -> int:
        given.append((settings.discord.shard_ids, settings.discord.shard_count))
        return 0

    monkeypatch.setattr("bot.app.run", run_bot)
    run = cli_in_process(monkeypatch, {"CITEBOT_DATA_DIR": str(tmp_path),
                                       "CITEBOT_CONFIG": str(config)})
    result = run("serve", "--shard-ids", "2-3,0-1", env={"DISCORD_TOKEN": "a.token"})
    assert result.returncode == 0, result.stderr
    assert given == [([0, 1, 2, 3], 8)]
    shared_sqlite = ("citebot: warning: the other shards' processes will write this log's "
                     "SQLite file too")
    lines = result.stderr.splitlines()
    assert lines[0] == "citebot: running shards 0-3 of 8"
    # Other processes run shards 4-7 on this data directory: the SQLite log is shared.
    assert len(lines) == 2 and lines[1].startswith(shared_sqlite)
    assert run("serve", env={"DISCORD_TOKEN": "a.token"}).stderr.splitlines()[0] == (
        "citebot: running shard 5 of 8")
    # Every shard in this process: no other process, no warning.
    assert run("serve", "--shard-ids", "0-7", env={"DISCORD_TOKEN": "a.token"}
               ).stderr.splitlines() == ["citebot: running shards 0-7 of 8"]


@pytest.mark.parametrize(("text", "message"), [
    ("shard_ids = [0, 1]\n", "discord.shard_ids needs discord.shard_count"),
    ("shard_ids = [2]\nshard_count = 2\n",
     "discord.shard_ids has shard 2, but with discord.shard_count 2 the shard ids run from 0 "
     "to 1"),
    ("shard_ids = [-1]\nshard_count = 2\n", "discord.shard_ids has shard -1"),
    ("shard_count = -2\n", "discord.shard_count must be 0 (the count Discord recommends)"),
    ('shard_ids = "0-3"\n', "'discord.shard_ids' must be a list of int"),
])
def test_bad_shard_settings_are_refused_by_name(tmp_path: Path, text: str,
                                                message: str) -> None:
    """The same checks on the config file, naming the settings."""
    path = tmp_path / "citebot.toml"
    path.write_text("[discord]\n" + text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(path, environ={})


def test_bot_hands_its_shards_to_discord_py(tmp_path: Path) -> None:
    """The settings' shards reach AutoShardedBot; none set leaves the count to Discord."""
    sharded = CitebotBot(make_settings(tmp_path, discord={"shard_ids": [0, 1, 2, 3],
                                                          "shard_count": 8}))
    assert (sharded.shard_ids, sharded.shard_count) == ([0, 1, 2, 3], 8)
    default = CitebotBot(make_settings(tmp_path))
    assert (default.shard_ids, default.shard_count) == (None, None)


def test_describe_matches_the_spec_syntax() -> None:
    """The start-up line writes shards as --shard-ids reads them."""
    from citebot.commands.serve import describe_shards, shard_ids_arg

    for spec in ("0-3", "0,2,5", "0-1,4"):
        assert describe_shards(shard_ids_arg(spec), 8) == f"running shards {spec} of 8"
    assert describe_shards([], 2) == "running shards 0-1 of 2"
    assert describe_shards([], 0) == ""
