"""Moderator results stay private, and a vote is called recorded only when it was written.

The real discord.py client against the stand-in, as in test_discord_bot.py. On
Discord the first follow-up after a deferral is shown with the deferral's
visibility whatever flags it carries, so what decides privacy is the deferral.
"""

from __future__ import annotations

import pytest

from tests.discord_standin import EPHEMERAL
from tests.pages import page_server

from .test_discord_bot import (  # noqa: F401  (fixtures)
    MANAGE_GUILD,
    answer_with_buttons,
    article,
    ask_slash,
    bot_engine,
    buttons,
    discord_env,
    embed_text,
    logged,
    option,
)

pytestmark = pytest.mark.asyncio


async def test_moderator_results_and_refusals_are_private(discord_env) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """/article add and remove defer privately, so neither a result nor a refusal is public."""
    standin, connect = discord_env
    await connect()
    guild = standin.guilds[1]

    async def run(sub: str, *options: dict[str, object]) -> tuple[int, str]:
        callback, followup = await standin.response(await standin.slash(
            "article", article(sub, *options), guild=guild, permissions=MANAGE_GUILD))
        body = followup.json if followup is not None else callback.json["data"]
        assert callback.json["type"] in (4, 5)
        flags = (callback.json.get("data") or {}).get("flags") or 0
        return flags, embed_text(body) if body.get("embeds") else body["content"]

    flags, text = await run("add", option("url", "http://169.254.169.254/latest/"))
    assert flags & EPHEMERAL and "link-local address" in text  # a refusal after deferring
    flags, text = await run("remove", option("id", "no-such-article"))
    assert flags & EPHEMERAL and "no article" in text
    with page_server() as base:
        flags, text = await run("add", option("url", f"{base}/pages/llamas.html"))
    assert flags & EPHEMERAL and "Added: Llamas of the Altiplano" in text
    doc_id = text.split("`")[1]
    flags, text = await run("list")
    assert flags & EPHEMERAL and doc_id in text
    flags, text = await run("remove", option("id", doc_id))
    assert flags & EPHEMERAL and "Removed: Llamas" in text


async def test_a_vote_on_an_answer_gone_from_the_log_says_so(discord_env) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """After the log is purged, a vote is not reported as recorded, and no row appears."""
    standin, connect = discord_env
    bot = await connect()
    _, message, ids, question_id = await answer_with_buttons(
        standin, "Why are rural people in Peru protesting?")

    callback, _ = await standin.response(await standin.click(message, ids["Helpful"]))
    assert "is recorded" in callback.json["data"]["content"]
    await bot.logs.flush()
    assert logged(bot, "SELECT helpful FROM feedback WHERE question_id = ?",
                  (question_id,)) == [(1,)]

    assert await bot.logs.purge(days=-1) >= 1  # everything up to a day from now goes
    callback, _ = await standin.response(await standin.click(message, ids["Not helpful"]))
    reply = callback.json["data"]
    assert reply["flags"] & EPHEMERAL
    assert "not recorded" in reply["content"] and "is recorded" not in reply["content"]
    await bot.logs.flush()
    assert logged(bot, "SELECT count(*) FROM feedback WHERE question_id = ?",
                  (question_id,)) == [(0,)]
