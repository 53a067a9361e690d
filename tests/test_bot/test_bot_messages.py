"""Messages as Discord really hands them to a bot: blanked text, replies without the ping,
"@citebot source?" on someone's claim, direct messages, and logs free of errors.

The stand-in blanks a message's text for the bot as Discord does (no Message Content
intent, no mention of the bot, not its own message, not a DM), so these tests see what
people on Discord would see.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import discord
import pytest

from bot.app import CitebotBot
from bot.utils.once import OncePer
from bot.utils.source_requests import is_source_request
from index.config import load_settings
from index.errors import ConfigError
from tests.discord_standin import EPHEMERAL, MESSAGE_CONTENT, DiscordStandin
from tests.pages import page_server

from .test_discord_bot import (
    JULI,
    MANAGE_GUILD,
    article,
    ask_slash,
    bot_engine,
    discord_env,
    embed_text,
    logged,
    option,
)

FIXTURES = (bot_engine, discord_env)
"""The bot's fixtures, shared with test_discord_bot (pytest finds them by name here)."""

CLAIM = "The protesters in Juli burned down the judges' offices!"


def bot_answer(standin: DiscordStandin, channel_id: str) -> dict[str, Any]:
    """The bot's latest message with an embed in a channel, as the stand-in keeps it."""
    return next(m for m in reversed(standin.messages.values())
                if m["author"]["id"] == standin.app_id and m["embeds"]
                and m["channel_id"] == channel_id)


async def mention_answer(standin: DiscordStandin, channel_id: str) -> dict[str, Any]:
    """Mention the bot with a question it can answer; the answer message, once sent."""
    start = len(standin.requests)
    await standin.say(JULI, mention_bot=True)
    await standin.wait_sent(channel_id, start=start)
    return bot_answer(standin, channel_id)


def posts(standin: DiscordStandin, channel_id: str, start: int) -> list[Any]:
    """The messages the bot posted in a channel since request ``start``."""
    return [c for c in standin.requests[start:]
            if c.method == "POST" and c.path == f"/channels/{channel_id}/messages"]


async def received(bot: CitebotBot, standin: DiscordStandin, content: str,
                   **kw: Any) -> discord.Message:
    """What the bot's own client received when someone posted ``content``."""
    waiter = asyncio.create_task(bot.wait_for(
        "message", check=lambda m: not m.author.bot, timeout=20))
    sent = await standin.say(content, **kw)
    got = await waiter
    assert got.id == int(sent["id"])
    return got


# --- the stand-in keeps Discord's rules ------------------------------------------------------


@pytest.mark.asyncio
async def test_standin_blanks_text_unless_mentioned_own_or_dm(discord_env) -> None:  # type: ignore[no-untyped-def]
    """Without Message Content: only a mention (typed or a reply's ping), the bot's own
    message or a DM shows text; the replied-to message and REST reads follow the same rule."""
    standin, connect = discord_env
    bot = await connect()
    channel = standin.guild.channel_id
    claim = await received(bot, standin, CLAIM, user=standin.bob)
    assert claim.content == ""
    start = len(standin.requests)
    typed = await received(bot, standin, f"<@{standin.app_id}> {JULI}")
    assert typed.content.endswith(JULI) and bot.user in typed.mentions
    await standin.wait_sent(channel, start=start)
    answer = bot_answer(standin, channel)

    on_claim = await received(bot, standin, "no way", reply_to=standin.messages[str(claim.id)])
    assert on_claim.content == "" and on_claim.reference is not None
    assert isinstance(on_claim.reference.resolved, discord.Message)
    assert on_claim.reference.resolved.content == ""  # bob's text, blanked the same way
    pinged = await received(bot, standin, "and Puno?", reply_to=answer)
    assert pinged.content == "and Puno?"
    quiet = await received(bot, standin, "and Puno?", reply_to=answer, ping=False)
    assert quiet.content == "" and quiet.reference.resolved.embeds  # the bot's own: readable

    text_channel = bot.get_channel(int(channel))
    assert (await text_channel.fetch_message(claim.id)).content == ""
    assert (await text_channel.fetch_message(typed.id)).content.endswith(JULI)
    dm = await received(bot, standin, "hello from a DM", dm=True)
    assert dm.guild is None and dm.content == "hello from a DM"
    assert isinstance(dm.channel, discord.DMChannel)


@pytest.mark.asyncio
async def test_standin_first_follow_up_keeps_the_deferral_visibility() -> None:
    """After a deferral, the first follow-up shows as the deferral did, whatever its flags;
    later ones as their own flags say."""
    standin = DiscordStandin()
    await standin.start()
    try:
        channel = standin.guild.channel_id
        async with aiohttp.ClientSession() as http:
            async def call(path: str, body: dict[str, Any]) -> dict[str, Any]:
                async with http.post(standin.base_url + path, json=body) as response:
                    assert response.status == 200
                    return await response.json()

            public = standin._interaction(2, {"name": "ask", "type": 1}, user=None, guild=None)
            await call(f"/interactions/{public['id']}/{public['token']}/callback",
                       {"type": 5, "data": {"flags": 0}})
            first = await call(f"/webhooks/{standin.app_id}/{public['token']}",
                               {"content": "meant to be private", "flags": EPHEMERAL})
            second = await call(f"/webhooks/{standin.app_id}/{public['token']}",
                                {"content": "really private", "flags": EPHEMERAL})
            private = standin._interaction(2, {"name": "ask", "type": 1}, user=None, guild=None)
            await call(f"/interactions/{private['id']}/{private['token']}/callback",
                       {"type": 5, "data": {"flags": EPHEMERAL}})
            hidden = await call(f"/webhooks/{standin.app_id}/{private['token']}",
                                {"content": "meant to be public"})
        seen = [m["content"] for m in standin.visible_in(channel)]
        assert seen == ["meant to be private"]
        assert not first["flags"] & EPHEMERAL
        assert second["flags"] & EPHEMERAL and hidden["flags"] & EPHEMERAL
    finally:
        await standin.close()


# --- replies without the ping ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_reply_without_ping_gets_one_hint_per_person_and_place(discord_env) -> None:  # type: ignore[no-untyped-def]
    """Message Content off: a reply to an answer with the ping off reaches the bot blank;
    the person is told once (per channel or thread) how to be read, never on every message,
    and never for messages that are not to the bot."""
    standin, connect = discord_env
    bot = await connect()
    assert not standin.intents & MESSAGE_CONTENT
    channel = standin.guild.channel_id
    answer = await mention_answer(standin, channel)

    start = len(standin.requests)
    follow = await standin.say("and who was arrested?", reply_to=answer, ping=False)
    hint = await standin.wait_sent(channel, start=start)
    assert "@ON" in hint.json["content"] and f"<@{standin.app_id}>" in hint.json["content"]
    assert str(hint.json["message_reference"]["message_id"]) == follow["id"]

    start = len(standin.requests)
    await standin.say("and in Puno?", reply_to=answer, ping=False)  # told already: nothing
    claim = await standin.say(CLAIM, user=standin.bob)
    await standin.say("no way", reply_to=claim, ping=False)  # not a reply to the bot
    await standin.say("just chatting")  # nothing to do with the bot
    await standin.say("and in Puno?", reply_to=answer, ping=False, user=standin.bob)
    bobs = await standin.wait_sent(channel, start=start)  # bob has not been told yet
    assert "@ON" in bobs.json["content"]
    thread = await standin.start_thread(answer, "Juli")
    await standin.say("what about Puno?", channel_id=thread["id"])  # in the answer's thread
    in_thread = await standin.wait_sent(thread["id"], start=start)
    assert "@ON" in in_thread.json["content"]
    await standin.say("and Ilave?", channel_id=thread["id"])  # told there already
    await standin.say(JULI, mention_bot=True)  # a later answer proves the waits
    await standin.wait_for(lambda c: c.method == "POST" and bool(c.json.get("embeds")),
                           start=start)
    assert len(posts(standin, channel, start)) == 2  # bob's hint, the answer
    assert len(posts(standin, thread["id"], start)) == 1
    assert len(bot.get_cog("AskCog").hinted) == 3  # type: ignore[union-attr]


def test_hint_memory_is_bounded() -> None:
    """The people already told are remembered up to a limit, the oldest forgotten first."""
    once = OncePer(limit=3)
    assert [once.first(k) for k in (1, 2, 1, 3, 4)] == [True, True, False, True, True]
    assert len(once) == 3
    assert once.first(2) and not once.first(4)  # 2 was the oldest: forgotten


@pytest.mark.asyncio
async def test_reply_without_ping_is_a_follow_up_with_message_content(discord_env) -> None:  # type: ignore[no-untyped-def]
    """discord.message_content on: a reply to an answer with the ping off, or a plain
    message in a thread started from one, is a follow-up."""
    standin, connect = discord_env
    bot = await connect(message_content=True)
    assert standin.intents & MESSAGE_CONTENT
    channel = standin.guild.channel_id
    answer = await mention_answer(standin, channel)
    start = len(standin.requests)
    await standin.say("and who was arrested?", reply_to=answer, ping=False)
    replied = await standin.wait_sent(channel, start=start)
    assert replied.json["embeds"]
    thread = await standin.start_thread(answer, "Juli")
    start = len(standin.requests)
    await standin.say("and what about Puno?", channel_id=thread["id"])
    in_thread = await standin.wait_sent(thread["id"], start=start)
    assert "Puno" in embed_text(in_thread.json)
    await bot.logs.flush()
    rows = logged(bot, "SELECT id, mode, parent_id, text FROM questions ORDER BY rowid")
    assert [r[1] for r in rows] == ["mention", "follow_up", "follow_up"]
    assert rows[1][2] == rows[0][0] and rows[2][2] == rows[0][0]
    assert rows[1][3].startswith(JULI) and rows[1][3].endswith("and who was arrested?")


def test_message_content_and_dms_settings_are_validated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The two switches are booleans, rejected by name otherwise."""
    for key in ("message_content", "dms"):
        path = tmp_path / f"{key}.toml"
        path.write_text(f'[discord]\n{key} = "yes"\n', encoding="utf-8")
        with pytest.raises(ConfigError, match=f"'discord.{key}' must be a bool"):
            load_settings(path, environ={})


# --- "@citebot source?" on someone's message ---------------------------------------------------


@pytest.mark.parametrize("text", ["", "source?", "Sources please", "citation needed",
                                  "is this true?", "¿fuente?", "fuentes", "What's the source?"])
def test_source_request_words(text: str) -> None:
    """The documented requests for sources (English and a few Spanish ones) are recognised."""
    assert is_source_request(text)


@pytest.mark.parametrize("text", ["why are people protesting?", "and Puno?",
                                  "source of the Rimac river"])
def test_other_words_are_questions(text: str) -> None:
    """Anything else is an ordinary question."""
    assert not is_source_request(text)


@pytest.mark.asyncio
async def test_source_request_without_message_content_points_to_find_sources(discord_env) -> None:  # type: ignore[no-untyped-def]
    """Message Content off: a claim that does not mention the bot cannot be read, so the bot
    says so and points to Find sources (never "nothing found"); a claim that mentions the
    bot can be read, and is sourced."""
    standin, connect = discord_env
    await connect()
    channel = standin.guild.channel_id
    claim = await standin.say(CLAIM, user=standin.bob)
    start = len(standin.requests)
    asking = await standin.say("source?", mention_bot=True, reply_to=claim, ping=False)
    sent = await standin.wait_sent(channel, start=start)
    assert "Find sources" in sent.json["content"] and "Apps" in sent.json["content"]
    assert "could not find anything" not in sent.json["content"]
    assert str(sent.json["message_reference"]["message_id"]) == asking["id"]

    start = len(standin.requests)
    readable = await standin.say(CLAIM, user=standin.bob, mention_bot=True)
    await standin.wait_sent(channel, start=start)  # bob asked the bot: it answers him
    start = len(standin.requests)
    await standin.say("¿fuente?", mention_bot=True, reply_to=readable)
    sourced = await standin.wait_sent(channel, start=start)
    text = embed_text(sourced.json)
    assert text.startswith("Sources for a message") and "> The protesters in Juli" in text
    assert "Bob" in text and "judicial office buildings" in text


@pytest.mark.asyncio
async def test_source_request_with_message_content_sources_the_claim(discord_env) -> None:  # type: ignore[no-untyped-def]
    """Message Content on: "@citebot sources please" (or the mention alone) in reply to a
    claim answers publicly with that claim's sources, as Find sources does, naming whose
    message it is; any other question in such a reply is an ordinary question."""
    standin, connect = discord_env
    bot = await connect(message_content=True)
    channel = standin.guild.channel_id
    claim = await standin.say(CLAIM, user=standin.bob)
    for request in ("sources please", ""):
        start = len(standin.requests)
        await standin.say(request, mention_bot=True, reply_to=claim, ping=False)
        sent = await standin.wait_sent(channel, start=start)
        text = embed_text(sent.json)
        assert text.startswith("Sources for a message") and "> The protesters in Juli" in text
        assert "— Bob" in text and "judicial office buildings" in text
        assert not sent.json.get("flags", 0) & EPHEMERAL
        assert set(b["label"] for row in sent.json["components"] for b in row["components"]) \
            >= {"Helpful", "Not helpful"}
    start = len(standin.requests)
    await standin.say(JULI, mention_bot=True, reply_to=claim)
    plain = await standin.wait_sent(channel, start=start)
    assert embed_text(plain.json).startswith(f"Sources: {JULI}")
    await bot.logs.flush()
    rows = logged(bot, "SELECT mode, text FROM questions ORDER BY rowid")
    assert rows == [("source_request", CLAIM), ("source_request", CLAIM), ("mention", JULI)]


# --- direct messages -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_dm_is_answered_from_the_global_articles_only(discord_env) -> None:  # type: ignore[no-untyped-def]
    """A question in a DM gets an answer from the shared articles; an article a server added
    for itself is never cited there."""
    standin, connect = discord_env
    bot = await connect()
    with page_server() as base:
        inter = await standin.slash("article", article("add", option(
            "url", f"{base}/pages/llamas.html")), permissions=MANAGE_GUILD)
        _, added = await standin.response(inter)
    assert added is not None and "Added: Llamas" in embed_text(added.json)
    _, in_guild = await ask_slash(standin, "When do herders shear the wool?")
    assert in_guild is not None and "Llamas of the Altiplano" in embed_text(in_guild.json)

    dm = standin.dm_channel(standin.alice)
    start = len(standin.requests)
    await standin.say("When do herders shear the wool?", dm=True)
    sent = await standin.wait_sent(dm, start=start)
    assert "Llamas" not in str(sent.json)
    start = len(standin.requests)
    asked = await standin.say(JULI, dm=True)
    sent = await standin.wait_sent(dm, start=start)
    assert "set fire to judicial office buildings" in embed_text(sent.json)
    assert str(sent.json["message_reference"]["message_id"]) == asked["id"]
    await bot.logs.flush()
    rows = logged(bot, "SELECT guild, channel, mode FROM questions WHERE text = ?", (JULI,))
    assert rows == [("", dm, "dm")]


@pytest.mark.asyncio
async def test_dms_switched_off_get_one_polite_line(discord_env) -> None:  # type: ignore[no-untyped-def]
    """discord.dms off: a DM gets one line saying where to ask, never silence."""
    standin, connect = discord_env
    bot = await connect(dms=False)
    dm = standin.dm_channel(standin.bob)
    start = len(standin.requests)
    await standin.say(JULI, dm=True, user=standin.bob)
    sent = await standin.wait_sent(dm, start=start)
    assert "direct messages" in sent.json["content"] and "/ask" in sent.json["content"]
    assert not sent.json.get("embeds")
    await bot.logs.flush()
    assert logged(bot, "SELECT count(*) FROM questions")[0][0] == 0


# --- clean logs ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_normal_traffic_logs_no_error_and_no_traceback(discord_env, caplog) -> None:  # type: ignore[no-untyped-def]
    """A mention, replies with and without the ping, "source?", a DM, /ask and Find sources
    write no ERROR record and no traceback (no CommandNotFound for every mention)."""
    caplog.set_level(logging.WARNING)
    standin, connect = discord_env
    await connect()
    channel = standin.guild.channel_id
    answer = await mention_answer(standin, channel)
    start = len(standin.requests)
    await standin.say("and who was arrested?", reply_to=answer)
    await standin.wait_sent(channel, start=start)
    start = len(standin.requests)
    await standin.say("and who was arrested?", reply_to=answer, ping=False)
    await standin.wait_sent(channel, start=start)
    claim = await standin.say(CLAIM, user=standin.bob)
    start = len(standin.requests)
    await standin.say("source?", mention_bot=True, reply_to=claim)
    await standin.wait_sent(channel, start=start)
    start = len(standin.requests)
    await standin.say(JULI, dm=True)
    await standin.wait_sent(standin.dm_channel(standin.alice), start=start)
    _, followup = await ask_slash(standin, JULI)
    assert followup is not None
    _, followup = await standin.response(await standin.context_menu("Find sources", claim))
    assert followup is not None
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [(r.name, r.getMessage()) for r in bad]
