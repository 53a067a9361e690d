"""Stopping and starting the bot against the Discord stand-in: a shutdown that loses no
answer, and operator errors (token, intents, permissions) explained in one line.

The bot runs through ``serve``, the routine ``citebot serve`` runs; setting its ``stop``
event is what SIGTERM and Ctrl-C do. Answers are held in flight by a hook the bot awaits
before searching, so nothing here is timed with sleeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.app import EXIT_ACCESS, EXIT_INTENTS, EXIT_TOKEN, CitebotBot, OperatorError, serve
from index.config import Settings
from index.logs import LogStore
from index.retrieval.engine import Engine
from tests.discord_standin import Captured, DiscordStandin

from .test_discord_bot import (  # noqa: F401
    JULI,
    bot_engine,
    check_everything_sent,
    embed_text,
    option,
    started_standin,
)

pytestmark = pytest.mark.asyncio

PERU = "Why are rural people in Peru protesting?"
ROADBLOCKS = "How many roadblocks were there?"


@dataclasses.dataclass
class Running:
    """A bot served as ``citebot serve`` serves it; ``stop`` is SIGTERM."""

    bot: CitebotBot
    stop: asyncio.Event
    served: asyncio.Task[None]

    async def stopped(self, timeout: float = 60) -> None:
        """Send "SIGTERM" and wait until ``serve`` has drained, closed and returned."""
        self.stop.set()
        await asyncio.wait_for(self.served, timeout)


Start = Callable[..., Awaitable[Running]]


@pytest_asyncio.fixture
async def lifecycle(bot_engine: tuple[Settings, Engine], tmp_path: Path,  # noqa: F811
                    monkeypatch: pytest.MonkeyPatch
                    ) -> AsyncIterator[tuple[DiscordStandin, Start]]:
    """The stand-in, and a way to serve a bot on it (again, to test a restart)."""
    settings, engine = bot_engine
    standin = await started_standin(monkeypatch)
    served: list[Running] = []

    async def start(on_answering: Callable[[], Awaitable[None]] | None = None,
                    wait_ready: bool = True, **discord_fields: Any) -> Running:
        bot_settings = dataclasses.replace(settings, discord=dataclasses.replace(
            settings.discord, **discord_fields))
        logs = await LogStore.open(tmp_path / "logs.sqlite", settings.logs)
        bot = CitebotBot(bot_settings, engine=engine, logs=logs, on_answering=on_answering,
                         guild_ready_timeout=0.05)
        stop = asyncio.Event()
        running = Running(bot, stop, asyncio.create_task(serve(bot, standin.token, stop)))
        served.append(running)
        if wait_ready:
            ready = asyncio.create_task(bot.wait_until_ready())
            await asyncio.wait({ready, running.served}, timeout=30,
                               return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            assert bot.is_ready(), "the bot did not connect"
        return running

    yield standin, start
    if standin.hold_posts is not None:
        standin.hold_posts.set()
    for running in served:
        if not running.served.done():
            await running.stopped()
    await standin.close()
    check_everything_sent(standin.sent_by_bot())


def rows(path: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


def reply_request(standin: DiscordStandin, asked: dict[str, Any]) -> Captured:
    """The bot's post replying to a message."""
    posted = next((c for c in standin.requests if c.method == "POST"
                   and isinstance(c.json, dict) and str((c.json.get("message_reference") or {})
                                                        .get("message_id")) == asked["id"]), None)
    assert posted is not None, f"the bot never replied to {asked['content'][:60]!r}"
    return posted


# --- shutdown ----------------------------------------------------------------------------


async def test_shutdown_sends_every_answer_in_flight_and_follow_ups_survive_a_restart(
        lifecycle, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM with three answers in flight: new questions are asked to come back, the three
    are sent and logged answered with their message ids, and after a restart a reply to one
    of them is a follow-up of its question."""
    standin, start = lifecycle
    arrived: list[int] = []
    all_in_flight, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        arrived.append(1)
        if len(arrived) == 3:
            all_in_flight.set()
        await release.wait()

    running = await start(on_answering=hold)
    first = await standin.say(JULI, mention_bot=True)
    second = await standin.say(PERU, mention_bot=True, user=standin.bob)
    slash = await standin.slash("ask", [option("question", ROADBLOCKS)])
    await asyncio.wait_for(all_in_flight.wait(), 30)

    running.stop.set()  # what SIGTERM does
    await asyncio.wait_for(running.bot.stopping.wait(), 10)
    begin = len(standin.requests)
    late = await standin.say("Who was arrested in Puno?", mention_bot=True)
    refusal = await standin.wait_sent(standin.guild.channel_id, start=begin)
    assert "restarting" in refusal.json["content"] and "again" in refusal.json["content"]
    assert str(refusal.json["message_reference"]["message_id"]) == late["id"]
    assert not running.served.done()  # still draining: the three are held

    release.set()
    await asyncio.wait_for(running.served, 60)  # serve returned: drained, flushed, closed
    for asked in (first, second):
        assert reply_request(standin, asked).json["embeds"]
    _, followup = await standin.response(slash)
    assert followup is not None and followup.json["embeds"]

    path = tmp_path / "logs.sqlite"
    logged = dict(rows(path, "SELECT text, message_id FROM questions WHERE answered = 1"))
    assert set(logged) == {JULI, PERU, ROADBLOCKS}
    assert all(standin.messages[mid]["embeds"] for mid in logged.values())
    assert rows(path, "SELECT count(*) FROM questions WHERE answered = 1 AND message_id = ''"
                ) == [(0,)]

    running = await start()  # a restart: nothing in memory, the log remembers
    begin = len(standin.requests)
    await standin.say("and who was arrested?", reply_to=standin.messages[logged[JULI]])
    followed = await standin.wait_sent(standin.guild.channel_id, start=begin)
    assert followed.json["embeds"]
    await running.stopped()
    (first_id,) = rows(path, "SELECT id FROM questions WHERE text = ?", (JULI,))[0]
    mode, parent, text = rows(path, "SELECT mode, parent_id, text FROM questions"
                                    " ORDER BY rowid DESC LIMIT 1")[0]
    assert (mode, parent) == ("follow_up", first_id)
    assert text.startswith(JULI) and text.endswith("and who was arrested?")


async def test_an_answer_not_sent_within_the_grace_period_is_not_logged_as_answered(
        lifecycle, bot_engine: tuple[Settings, Engine], tmp_path: Path,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """Discord never confirms the post before shutdown_grace_seconds run out: the bot stops
    anyway, says so, and the log keeps the question as not answered (and not a coverage gap,
    since citations were found)."""
    standin, start = lifecycle
    running = await start(shutdown_grace_seconds=0.5)
    standin.hold_posts = asyncio.Event()
    begin = len(standin.requests)
    await standin.say(JULI, mention_bot=True)
    await standin.wait_sent(standin.guild.channel_id, start=begin)  # arrived, not answered
    with caplog.at_level(logging.WARNING, logger="bot"):
        await running.stopped()
    assert "1 answers were not finished within 0.5 s" in caplog.text
    assert "discord.shutdown_grace_seconds" in caplog.text

    path = tmp_path / "logs.sqlite"
    assert rows(path, "SELECT text, answered, message_id FROM questions") == [(JULI, 0, "")]
    found = len(bot_engine[1].ask(JULI).results)  # what the answer cited, unsent
    assert found >= 2
    assert rows(path, "SELECT count(*) FROM citations")[0][0] == found
    store = await LogStore.open(path)
    stats = await store.stats()
    await store.close()
    assert (stats.questions, stats.answered, stats.gaps) == (1, 0, [])


# --- operator errors ---------------------------------------------------------------------


async def test_a_token_revoked_mid_run_ends_serve_with_the_fix_and_exit_code_3(
        lifecycle) -> None:  # type: ignore[no-untyped-def]
    """The owner resets the token while the bot runs: the gateway closes with 4004 and
    serve ends (no reconnect loop) with one line saying where to get the new token."""
    standin, start = lifecycle
    running = await start()
    await standin.revoke_token()
    with pytest.raises(OperatorError) as caught:
        await asyncio.wait_for(running.served, 30)
    assert caught.value.exit_code == EXIT_TOKEN == 3
    message = str(caught.value)
    assert "4004" in message and "Bot > Reset Token" in message and "\n" not in message
    assert running.bot.is_closed()


@pytest.mark.parametrize(("setting", "value", "named"), [
    ("ask_channels", ["CHANNEL"], "discord.ask_channels is set"),
    ("auto_annotate", True, "discord.auto_annotate is true"),
    ("message_content", True, "discord.message_content is true"),
])
async def test_a_privileged_intent_not_enabled_names_it_and_the_setting(
        lifecycle, setting: str, value: object, named: str) -> None:  # type: ignore[no-untyped-def]
    """Message Content is off in the portal and a setting asks for it: close code 4014 becomes
    one line naming the intent, the setting that asked for it and where to switch it on."""
    standin, start = lifecycle
    standin.enabled_intents = 0
    if value == ["CHANNEL"]:
        value = [standin.guild.channel_id]
    running = await start(wait_ready=False, **{setting: value})
    with pytest.raises(OperatorError) as caught:
        await asyncio.wait_for(running.served, 30)
    assert caught.value.exit_code == EXIT_INTENTS == 4
    message = str(caught.value)
    assert "4014" in message and "Message Content" in message and named in message
    assert "Privileged Gateway Intents" in message and "\n" not in message


@pytest.mark.parametrize("invited_without_scope", [False, True])
async def test_a_dev_guild_that_refuses_the_commands_names_it_and_the_fix(
        lifecycle, invited_without_scope: bool) -> None:  # type: ignore[no-untyped-def]
    """A dev guild the bot is not in, or one it joined without the applications.commands
    scope, refuses command registration (403, code 50001): one line naming the server,
    the scope and the setting, and exit code 5, not an internal error."""
    standin, start = lifecycle
    if invited_without_scope:
        guild_id = standin.guild.id
        standin.without_commands_scope.add(guild_id)
    else:
        guild_id = "123456789012345678"
    running = await start(wait_ready=False, dev_guilds=[guild_id])
    with pytest.raises(OperatorError) as caught:
        await asyncio.wait_for(running.served, 30)
    assert caught.value.exit_code == EXIT_ACCESS == 5
    message = str(caught.value)
    assert f"server {guild_id}" in message and "50001" in message
    assert "applications.commands" in message and "discord.dev_guilds" in message
    assert "\n" not in message
    assert running.bot.is_closed()


async def test_without_privileged_intents_enabled_the_default_bot_still_connects(
        lifecycle) -> None:  # type: ignore[no-untyped-def]
    """The default settings ask for no privileged intent, so a portal with none works."""
    standin, start = lifecycle
    standin.enabled_intents = 0
    running = await start()
    assert running.bot.is_ready()
    await running.stopped()


async def test_missing_permissions_in_a_channel_warn_once_and_the_bot_carries_on(
        lifecycle, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """Posting in a channel where the bot lacks permissions: one warning naming the channel
    and the permissions to grant (not one per message, no traceback), no answer logged as
    answered, and the bot keeps answering elsewhere."""
    standin, start = lifecycle
    running = await start(find_sources_reply="thread")
    channel = standin.guild.channel_id
    standin.missing_permissions.add(channel)
    with caplog.at_level(logging.WARNING, logger="bot"):
        for question in (JULI, PERU):
            begin = len(standin.requests)
            await standin.say(question, mention_bot=True)
            refused = await standin.wait_sent(channel, start=begin)
            assert refused.method == "POST"
            assert not await running.bot.finish_in_flight(30)
        claim = await standin.say("The protesters in Juli burned down the judges' offices!",
                                  user=standin.bob)
        _, private = await standin.response(await standin.context_menu("Find sources", claim))
        assert private is not None and private.json["embeds"]  # no thread: answered privately
    warnings = [r for r in caplog.records if r.name.startswith("bot")]
    assert all(r.levelno == logging.WARNING and not r.exc_info for r in warnings)
    assert len(warnings) == 2, [r.getMessage() for r in warnings]
    posting, threads = (r.getMessage() for r in warnings)
    assert f"#general ({channel})" in posting and "Send Messages" in posting
    assert "Embed Links" in posting and "Missing Permissions" in posting
    assert "Create Public Threads" in threads

    begin = len(standin.requests)
    await standin.say(JULI, mention_bot=True, guild=standin.guilds[1])
    elsewhere = await standin.wait_sent(standin.guilds[1].channel_id, start=begin)
    assert "set fire to judicial office buildings" in embed_text(elsewhere.json)
    await running.stopped()
    path = tmp_path / "logs.sqlite"
    assert rows(path, "SELECT answered FROM questions WHERE channel = ? ORDER BY rowid",
                (channel,)) == [
        (0,), (0,), (1,)]  # the two refused mentions; Find sources was delivered privately


async def test_a_stop_while_starting_ends_cleanly(lifecycle) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM before the bot is ready (logging in, loading, syncing commands): serve
    returns without an error, and the log is closed."""
    standin, start = lifecycle
    running = await start(wait_ready=False, dev_guilds=[standin.guild.id])
    await running.stopped(30)
    assert running.bot.is_closed() and not running.bot.is_ready()
