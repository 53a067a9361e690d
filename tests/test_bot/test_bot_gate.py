"""Quiet cooldowns, More sources outside the cooldown, and "busy" from a time budget: the real
discord.py client against the Discord stand-in, with the real model."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.utils.gate import Gate, wait_notice
from tests.discord_standin import EPHEMERAL, Captured, DiscordStandin

from .test_discord_bot import (
    JULI,
    ask_slash,
    bot_engine,
    buttons,
    discord_env,
    embed_text,
    option,
)

pytestmark = pytest.mark.asyncio

FIXTURES = (bot_engine, discord_env)
"""The bot's fixtures, shared with test_discord_bot (pytest finds them by name here)."""

RURAL = "Why are rural people in Peru protesting?"
SEEDS = ["What happened in Juliaca on January 9?", "How many roadblocks were there?",
         "Who captured soldiers?", RURAL, JULI, "Why was Castillo removed from office?"]


def is_reply_to(request: Captured, message_ids: set[str]) -> bool:
    """Whether a request is the bot posting a reply to one of these messages."""
    reference = (request.json or {}).get("message_reference") if isinstance(
        request.json, dict) else None
    return (request.method == "POST" and reference is not None
            and str(reference.get("message_id")) in message_ids)


async def reply_to(standin: DiscordStandin, message: dict[str, Any]) -> Captured:
    """The bot's reply to a message, waiting for it."""
    return await standin.wait_for(lambda c: is_reply_to(c, {message["id"]}), timeout=60)


async def test_waits_are_rounded_up_never_zero() -> None:
    """0.01 s left reads "1 s", 2.2 s reads "3 s"; a repeat too-fast mention is not told."""
    assert wait_notice(0.01) == "Please wait 1 s before asking again."
    assert wait_notice(2.2) == "Please wait 3 s before asking again."
    gate = Gate(max_pending=10, cooldown=60)
    assert gate.admit_in_public(1).admitted
    gate.release()
    told = gate.admit_in_public(1)
    assert not told.admitted and told.notice.startswith("Please wait")
    assert gate.admit_in_public(1).notice == ""  # same window: nothing more is said
    assert gate.admit(1) is not None  # privately (slash, buttons) they are always told
    assert gate.admit_in_public(2).admitted  # someone else is not held back


async def test_mention_cooldown_is_told_once_and_never_holds_back_others(discord_env) -> None:  # type: ignore[no-untyped-def]
    """Ten too-fast mentions get one public notice between them; meanwhile someone else's
    question is answered."""
    standin, connect = discord_env
    await connect(cooldown_seconds=60)
    first = await standin.say(JULI, mention_bot=True, user=standin.bob)
    assert (await reply_to(standin, first)).json["embeds"]
    spam = [await standin.say(f"{q} (again)", mention_bot=True, user=standin.bob)
            for q in SEEDS + SEEDS[:4]]
    other = await standin.say(RURAL, mention_bot=True)
    answer = await reply_to(standin, other)
    assert answer.json["embeds"] and "Please wait" not in (answer.json.get("content") or "")
    # Bob's slash command is handled after his mentions: by its private notice, they are done.
    callback, _ = await ask_slash(standin, JULI, user=standin.bob)
    assert callback.json["data"]["flags"] & EPHEMERAL
    assert re.search(r"Please wait \d+ s", callback.json["data"]["content"])
    notices = [c for c in standin.requests if is_reply_to(c, {m["id"] for m in spam})]
    assert len(notices) == 1, [c.json.get("content") for c in notices]
    assert str(notices[0].json["message_reference"]["message_id"]) == spam[0]["id"]
    shown = int(re.search(r"Please wait (\d+) s", notices[0].json["content"]).group(1))
    assert 1 <= shown <= 60


async def test_slash_cooldown_notice_is_private_and_rounded_up(discord_env) -> None:  # type: ignore[no-untyped-def]
    """A second /ask within a 0.45 s cooldown is told privately to wait 1 s (not "0 s")."""
    standin, connect = discord_env
    await connect(cooldown_seconds=0.45)
    first = await standin.slash("ask", [option("question", JULI)])
    callback, _ = await ask_slash(standin, RURAL)
    assert callback.json["type"] == 4 and callback.json["data"]["flags"] & EPHEMERAL
    assert callback.json["data"]["content"] == "Please wait 1 s before asking again."
    _, followup = await standin.response(first)
    assert followup is not None and followup.json["embeds"]


async def test_more_sources_is_not_held_back_by_the_cooldown(discord_env) -> None:  # type: ignore[no-untyped-def]
    """More sources right after an answer pages on, though the asker is cooling down."""
    standin, connect = discord_env
    await connect(cooldown_seconds=60)
    _, followup = await ask_slash(standin, RURAL)
    assert followup is not None
    message = next(m for m in reversed(standin.messages.values())
                   if m["components"] == followup.json["components"])
    _, page = await standin.response(
        await standin.click(message, buttons(followup.json)["More sources"]))
    assert page is not None and page.json["flags"] & EPHEMERAL
    assert "page 2" in embed_text(page.json)
    callback, _ = await ask_slash(standin, JULI)  # a new question still waits its turn
    assert "Please wait" in callback.json["data"]["content"]


async def test_a_burst_of_30_across_channels_is_answered_in_batches(discord_env) -> None:  # type: ignore[no-untyped-def]
    """Thirty people in two servers' channels ask at once: all thirty are answered, none is
    told "busy", and the questions share model calls."""
    standin, connect = discord_env
    bot = await connect()
    asked = []
    for n in range(30):
        person = standin._user(f"asker{n}")
        asked.append(await standin.say(SEEDS[n % len(SEEDS)], mention_bot=True, user=person,
                                       guild=standin.guilds[n % 2]))
    replies = [await reply_to(standin, m) for m in asked]
    assert not [r for r in replies if "busy" in (r.json.get("content") or "")]
    assert all(r.json.get("embeds") for r in replies)
    assert {r.path for r in replies} == {f"/channels/{g.channel_id}/messages"
                                         for g in standin.guilds}
    assert max(bot.batcher.sizes) > 1 and sum(bot.batcher.sizes) == 30


async def test_busy_only_when_the_queue_would_wait_too_long(discord_env) -> None:  # type: ignore[no-untyped-def]
    """With the work ahead priced over the budget, questions and More sources hear "busy"
    (privately for commands and buttons); within the budget the same queue is accepted."""
    standin, connect = discord_env
    bot = await connect(max_wait_seconds=0.001)
    _, answered = await ask_slash(standin, RURAL)
    assert answered is not None
    message = next(m for m in reversed(standin.messages.values())
                   if m["components"] == answered.json["components"])
    bot.engine.lock.acquire()  # the next question waits in the worker thread
    try:
        slow = await standin.slash("ask", [option("question", JULI)], user=standin.bob)
        deferred = await standin.wait_for(
            lambda c: c.path.startswith(f"/interactions/{slow['id']}/"))
        assert deferred.json["type"] == 5  # admitted: nothing was ahead of it
        callback, _ = await ask_slash(standin, JULI)
        assert "busy" in callback.json["data"]["content"]
        assert callback.json["data"]["flags"] & EPHEMERAL
        callback, _ = await standin.response(
            await standin.click(message, buttons(answered.json)["More sources"]))
        assert "busy" in callback.json["data"]["content"]
        assert callback.json["data"]["flags"] & EPHEMERAL
    finally:
        bot.engine.lock.release()
    _, followup = await standin.response(slow)
    assert followup is not None and followup.json["embeds"]

    bot = await connect(max_wait_seconds=10.0)
    bot.engine.lock.acquire()
    try:
        slow = await standin.slash("ask", [option("question", JULI)], user=standin.bob)
        await standin.wait_for(lambda c: c.path.startswith(f"/interactions/{slow['id']}/"))
        second = await standin.slash("ask", [option("question", RURAL)])
        callback = await standin.wait_for(
            lambda c: c.path.startswith(f"/interactions/{second['id']}/"))
        assert callback.json["type"] == 5  # deferred: it waits its turn
        assert bot.gate.pending == 2
    finally:
        bot.engine.lock.release()
    for inter in (slow, second):
        _, followup = await standin.response(inter)
        assert followup is not None and followup.json["embeds"]
