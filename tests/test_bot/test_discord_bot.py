"""The real discord.py client, with citebot's cogs, against the Discord stand-in on 127.0.0.1.

Every test acts as people in a server (messages, slash commands, the context
menu, buttons) and asserts on the requests the bot sends back. After each
test, every message the bot sent is checked for pings and Discord's limits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import discord
import pytest
import pytest_asyncio
import yarl

from bot.app import CitebotBot
from bot.utils.gate import Gate
from index.config import Settings
from index.logs import LogStore
from index.retrieval.embedder import Encoder
from index.retrieval.engine import Engine
from tests.conftest import make_settings
from tests.discord_standin import EPHEMERAL, Captured, DiscordStandin
from tests.pages import REPORT_LINES, make_pdf, page_server

pytestmark = pytest.mark.asyncio

JULI = "Which buildings did the crowd in Juli set on fire?"
OFF_TOPIC = "What is the best recipe for a chocolate cake with strawberries?"
MANAGE_GUILD = discord.Permissions(manage_guild=True).value


@pytest.fixture(scope="module")
def bot_engine(tmp_path_factory: pytest.TempPathFactory, shared_data_dir: Path,
               engine: Engine, embedder: Encoder) -> tuple[Settings, Engine]:
    """An engine of its own (the bot adds articles), started from the shared index."""
    data = tmp_path_factory.mktemp("bot-data")
    shutil.copytree(shared_data_dir, data, dirs_exist_ok=True)
    settings = make_settings(data, ingest={"allow_hosts": ["127.0.0.1"], "fetch_timeout": 2.0},
                             discord={"cooldown_seconds": 0.0,
                                      "moderator_roles": ["Moderator"]})
    return settings, Engine.open(settings, embedder=embedder)


Connect = Callable[..., Awaitable[CitebotBot]]


async def started_standin(monkeypatch: pytest.MonkeyPatch) -> DiscordStandin:
    """A running stand-in, with discord.py pointed at it (two class attributes) for one test."""
    standin = DiscordStandin()
    await standin.start()
    monkeypatch.setattr(discord.http.Route, "BASE", standin.base_url)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY",
                        yarl.URL(standin.ws_url + "/"))
    return standin


@pytest_asyncio.fixture
async def discord_env(bot_engine: tuple[Settings, Engine], tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch
                      ) -> AsyncIterator[tuple[DiscordStandin, Connect]]:
    """The stand-in, and a way to connect a bot to it (again, to test a restart)."""
    settings, engine = bot_engine
    standin = await started_standin(monkeypatch)
    settings = dataclasses.replace(settings, discord=dataclasses.replace(
        settings.discord, dev_guilds=[standin.guild.id]))
    running: list[tuple[CitebotBot, asyncio.Task[None]]] = []

    async def connect(**discord_fields: Any) -> CitebotBot:
        for bot, task in running:
            await bot.close()
            await asyncio.wait_for(task, 10)
        running.clear()
        bot_settings = dataclasses.replace(settings, discord=dataclasses.replace(
            settings.discord, **discord_fields))
        logs = await LogStore.open(tmp_path / "logs.sqlite", settings.logs)
        bot = CitebotBot(bot_settings, engine=engine, logs=logs, guild_ready_timeout=0.05)
        await bot.login(standin.token)
        task = asyncio.create_task(bot.connect(reconnect=False))
        await asyncio.wait_for(bot.wait_until_ready(), 20)
        running.append((bot, task))
        return bot

    yield standin, connect
    for bot, task in running:
        await bot.close()
        await asyncio.wait_for(task, 10)
    await standin.close()
    check_everything_sent(standin.sent_by_bot())


def check_everything_sent(sent: list[Captured]) -> None:
    """No message the bot sent can ping anyone or break Discord's limits."""
    for request in sent:
        body = request.json.get("data", request.json) if "/callback" in request.path \
            else request.json
        if not body or not (body.get("content") or body.get("embeds")):
            continue
        assert body.get("allowed_mentions", {}).get("parse") == [], request.path
        assert not body["allowed_mentions"].get("replied_user"), request.path
        assert len(body.get("content") or "") <= 2000
        for embed in body.get("embeds") or []:
            assert len(embed.get("title", "")) <= 256
            assert len(embed.get("description", "")) <= 4096
            assert len(embed.get("fields", [])) <= 25
            for f in embed.get("fields", []):
                assert len(f["name"]) <= 256 and len(f["value"]) <= 1024
            total = len(embed.get("title", "")) + len(embed.get("description", "")) + sum(
                len(f["name"]) + len(f["value"]) for f in embed.get("fields", [])) + len(
                embed.get("footer", {}).get("text", ""))
            assert total <= 6000


def embed_text(body: dict[str, Any]) -> str:
    """Everything an embed shows, as one string."""
    embed = body["embeds"][0]
    return "\n".join([embed.get("title", ""), embed.get("description", "")]
                     + [f"{f['name']}\n{f['value']}" for f in embed.get("fields", [])])


def buttons(body: dict[str, Any]) -> dict[str, str]:
    """Button label -> custom id."""
    return {c["label"]: c["custom_id"] for row in body.get("components", [])
            for c in row["components"]}


def option(name: str, value: Any, kind: int = 3) -> dict[str, Any]:
    return {"name": name, "type": kind, "value": value}


def article(sub: str, *options: dict[str, Any]) -> list[dict[str, Any]]:
    """The options of ``/article <sub> ...``."""
    return [{"name": sub, "type": 1, "options": list(options)}]


async def ask_slash(standin: DiscordStandin, question: str, **kw: Any
                    ) -> tuple[Captured, Captured | None]:
    inter = await standin.slash("ask", [option("question", question)], **kw)
    return await standin.response(inter)


async def answer_with_buttons(standin: DiscordStandin, question: str
                             ) -> tuple[Captured, dict[str, Any], dict[str, str], str]:
    """Ask with /ask; the follow-up, the message it became, its buttons and the question id."""
    _, followup = await ask_slash(standin, question)
    assert followup is not None
    ids = buttons(followup.json)
    message = next(m for m in reversed(standin.messages.values())
                   if m["components"] == followup.json["components"])
    return followup, message, ids, ids["Helpful"].rsplit(":", 1)[1]


def logged(bot: CitebotBot, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(bot.logs.path) as db:  # type: ignore[union-attr]
        return db.execute(sql, args).fetchall()


# --- connecting --------------------------------------------------------------------------


async def test_bot_connects_with_least_intents_and_syncs_dev_guild(discord_env) -> None:  # type: ignore[no-untyped-def]
    """No privileged intent unless an ask channel needs it; commands reach the dev guild."""
    standin, connect = discord_env
    await connect()
    intents = discord.Intents._from_value(standin.identify["intents"])
    assert intents.guilds and intents.guild_messages
    assert not intents.message_content and not intents.members and not intents.presences
    synced = {(c["name"], c.get("type", 1)) for c in standin.commands[standin.guild.id]}
    assert {("ask", 1), ("article", 1), ("sources", 1), ("stats", 1), ("help", 1),
            ("Find sources", 3)} <= synced
    group = next(c for c in standin.commands[standin.guild.id] if c["name"] == "article")
    assert {o["name"] for o in group["options"]} == {"add", "remove", "list", "show"}
    await connect(ask_channels=[standin.guild.channel_id])
    assert discord.Intents._from_value(standin.identify["intents"]).message_content


# --- asking ------------------------------------------------------------------------------


async def test_discord_slash_ask_cites_with_bold_sentence_and_buttons(discord_env) -> None:  # type: ignore[no-untyped-def]
    """/ask defers, then answers with numbered citations, a highlighted quote and buttons."""
    standin, connect = discord_env
    bot = await connect()
    callback, followup = await ask_slash(standin, JULI)
    assert callback.json["type"] == 5
    assert not callback.json.get("data", {}).get("flags", 0) & EPHEMERAL
    assert followup is not None
    text = embed_text(followup.json)
    assert "**" in text and "set fire to judicial office buildings" in text
    assert "Rural-Based Popular Resistance" in text and "W.T. Whitney Jr." in text
    assert re.search(r"paragraph \d+", text, re.I)
    shown = bot.answerer.citations
    more = len(bot.engine.ask(JULI, top_k=shown + 1).results) > shown
    assert set(buttons(followup.json)) == {"Helpful", "Not helpful"} | (
        {"More sources"} if more else set())
    await bot.finish_in_flight()  # answered is logged once the bot has the sent message
    await bot.logs.flush()
    rows = logged(bot, "SELECT mode, answered, guild, user FROM questions")
    assert rows == [("slash", 1, standin.guild.id, standin.alice["id"])]
    cited = len(bot.engine.ask(JULI, top_k=shown).results)  # the citations shown
    assert cited >= 2
    assert logged(bot, "SELECT count(*) FROM citations")[0][0] == cited


async def test_discord_mention_question_gets_a_reply_without_pings(discord_env) -> None:  # type: ignore[no-untyped-def]
    """A mention is a question; the reply references it and pings no one."""
    standin, connect = discord_env
    await connect()
    start = len(standin.requests)
    asked = await standin.say(JULI, mention_bot=True)
    sent = await standin.wait_sent(standin.guild.channel_id, start=start)
    assert str(sent.json["message_reference"]["message_id"]) == asked["id"]
    assert sent.json["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert "set fire to judicial office buildings" in embed_text(sent.json)


async def test_discord_ask_channel_answers_every_message(discord_env) -> None:  # type: ignore[no-untyped-def]
    """In a configured ask channel a plain message (no mention) is a question."""
    standin, connect = discord_env
    bot = await connect(ask_channels=[standin.guild.channel_id])
    start = len(standin.requests)
    await standin.say(JULI)
    sent = await standin.wait_sent(standin.guild.channel_id, start=start)
    assert "set fire to judicial office buildings" in embed_text(sent.json)
    start = len(standin.requests)
    await standin.say(JULI, guild=standin.guilds[1])  # not an ask channel: ignored
    await standin.say("and one more", mention_bot=True)  # a later request proves the wait
    await standin.wait_sent(standin.guild.channel_id, start=start)
    assert not any(standin.guilds[1].channel_id in c.path for c in standin.requests[start:])
    await bot.logs.flush()
    assert logged(bot, "SELECT mode FROM questions ORDER BY rowid")[0] == ("channel",)


async def test_discord_unanswerable_and_bad_questions_get_polite_replies(discord_env) -> None:  # type: ignore[no-untyped-def]
    """Off-topic, empty, oversized and injected questions: a clear reply, no crash, no ping."""
    standin, connect = discord_env
    await connect()
    _, followup = await ask_slash(standin, OFF_TOPIC)
    assert followup is not None and "could not find anything" in followup.json["content"]
    assert not followup.json.get("components")

    start = len(standin.requests)
    await standin.say("   ", mention_bot=True)
    sent = await standin.wait_sent(standin.guild.channel_id, start=start)
    assert "Ask me something" in sent.json["content"]

    start = len(standin.requests)
    await standin.say("why " * 1500, mention_bot=True)  # 6,000 characters
    sent = await standin.wait_sent(standin.guild.channel_id, start=start)
    assert "too long" in sent.json["content"] and "1000" in sent.json["content"]

    _, followup = await ask_slash(standin, " \t ")
    assert followup is not None and "empty" in followup.json["content"]

    injected = f"@everyone <@&{standin.guild.mod_role_id}> **{JULI}** [x](http://evil.test)"
    start = len(standin.requests)
    await standin.say(injected, mention_bot=True)
    sent = await standin.wait_sent(standin.guild.channel_id, start=start)
    shown = embed_text(sent.json)
    assert "@everyone" not in shown.replace("@\u200beveryone", "")
    assert f"<@&{standin.guild.mod_role_id}>" not in shown
    assert sent.json["allowed_mentions"]["parse"] == []


async def test_discord_follow_up_in_thread_reads_the_earlier_question(discord_env) -> None:  # type: ignore[no-untyped-def]
    """In a thread started from an answer, "and in Puno?" is asked with the first question."""
    standin, connect = discord_env
    bot = await connect()
    start = len(standin.requests)
    await standin.say(JULI, mention_bot=True)
    first = await standin.wait_sent(standin.guild.channel_id, start=start)
    answer = next(m for m in reversed(standin.messages.values())
                  if m["author"]["id"] == standin.app_id and m["embeds"])
    assert answer["embeds"] == first.json["embeds"]
    thread = await standin.start_thread(answer, "Juli")
    start = len(standin.requests)
    await standin.say("and what about Puno?", mention_bot=True, channel_id=thread["id"])
    reply = await standin.wait_sent(thread["id"], start=start)
    assert "Puno" in embed_text(reply.json)
    # A reply to the answer (Discord pings the replied-to author by default) follows up too.
    start = len(standin.requests)
    await standin.say("and who was arrested?", reply_to=answer)
    replied = await standin.wait_sent(standin.guild.channel_id, start=start)
    assert replied.json["embeds"]
    await bot.logs.flush()
    rows = logged(bot, "SELECT id, mode, parent_id, text, thread FROM questions ORDER BY rowid")
    assert [r[1] for r in rows] == ["mention", "follow_up", "follow_up"]
    assert rows[1][2] == rows[0][0] and rows[2][2] == rows[0][0]
    assert rows[1][3].startswith(JULI) and rows[1][3].endswith("and what about Puno?")
    assert rows[1][4] == thread["id"]


async def test_discord_find_sources_ephemeral_and_in_a_thread(discord_env) -> None:  # type: ignore[no-untyped-def]
    """Find sources quotes the message and cites passages, privately or in a thread."""
    standin, connect = discord_env
    await connect()
    claim = await standin.say("The protesters in Juli burned down the judges' offices!",
                              user=standin.bob)
    inter = await standin.context_menu("Find sources", claim)
    callback, followup = await standin.response(inter)
    assert callback.json["data"]["flags"] & EPHEMERAL
    assert followup is not None and followup.json["flags"] & EPHEMERAL
    text = embed_text(followup.json)
    assert "> The protesters in Juli burned down" in text and "Bob" in text
    assert "judicial office buildings" in text

    await connect(find_sources_reply="thread")
    start = len(standin.requests)
    inter = await standin.context_menu("Find sources", claim)
    _, followup = await standin.response(inter)
    assert followup is not None and "Sources posted in" in followup.json["content"]
    posted = await standin.wait_sent(claim["id"], start=start)  # the thread has the message id
    assert "judicial office buildings" in embed_text(posted.json)

    empty = await standin.say("", user=standin.bob)
    callback, _ = await standin.response(await standin.context_menu("Find sources", empty))
    assert "no text" in callback.json["data"]["content"]


# --- buttons -----------------------------------------------------------------------------


async def test_discord_buttons_vote_and_page_even_after_a_restart(discord_env) -> None:  # type: ignore[no-untyped-def]
    """Helpful/Not helpful are recorded once per user (changeable); More sources pages on."""
    standin, connect = discord_env
    bot = await connect()
    followup, message, ids, question_id = await answer_with_buttons(
        standin, "Why are rural people in Peru protesting?")

    callback, _ = await standin.response(await standin.click(message, ids["Helpful"]))
    assert callback.json["data"]["flags"] & EPHEMERAL and "helpful" in callback.json["data"][
        "content"]
    bot = await connect()  # a restart: nothing in memory, the buttons must still work
    await standin.response(await standin.click(message, ids["Not helpful"]))
    await standin.response(await standin.click(message, ids["Helpful"], user=standin.bob))
    await bot.logs.flush()
    votes = dict(logged(bot, "SELECT user, helpful FROM feedback WHERE question_id = ?",
                        (question_id,)))
    assert votes == {standin.alice["id"]: 0, standin.bob["id"]: 1}

    _, page = await standin.response(await standin.click(message, ids["More sources"]))
    assert page is not None and page.json["flags"] & EPHEMERAL
    page_text = embed_text(page.json)
    assert "page 2" in page_text
    first_ranks = re.findall(r"^\*\*\[?(\d+)", embed_text(followup.json), re.M)
    later_ranks = re.findall(r"^\*\*\[?(\d+)", page_text, re.M)
    assert first_ranks and later_ranks and min(map(int, later_ranks)) > max(map(int, first_ranks))


# --- moderators --------------------------------------------------------------------------


async def test_discord_article_add_by_url_is_cited_only_in_that_guild(discord_env) -> None:  # type: ignore[no-untyped-def]
    """A moderator adds a served page; it answers at once there and never in another guild."""
    standin, connect = discord_env
    bot = await connect()
    one, two = standin.guilds
    with page_server() as base:
        url = f"{base}/pages/llamas.html"
        inter = await standin.slash("article", article("add", option("url", url)),
                                    permissions=MANAGE_GUILD)
        callback, followup = await standin.response(inter)
    assert callback.json["type"] == 5 and followup is not None
    added = embed_text(followup.json)
    assert "Added: Llamas of the Altiplano" in added and "Ana Quispe" in added
    doc_id = re.search(r"`(llamas-of-the-altiplano-[0-9a-f]+)`", added).group(1)

    _, here = await ask_slash(standin, "When do herders shear the wool?", guild=one)
    assert here is not None and "Llamas of the Altiplano" in embed_text(here.json)
    link = re.search(r"\(<(http[^>]+)>\)", embed_text(here.json))  # wrapped: no preview
    assert link and link.group(1).startswith(
        "https://andes-gazette.example/2024/05/llamas-of-the-altiplano#:~:text=")
    _, there = await ask_slash(standin, "When do herders shear the wool?", guild=two)
    assert there is not None and "Llamas of the Altiplano" not in str(there.json)

    callback, _ = await standin.response(await standin.slash(
        "article", article("list"), guild=two, permissions=MANAGE_GUILD))
    assert doc_id not in embed_text(callback.json["data"])
    callback, _ = await standin.response(await standin.slash(
        "article", article("show", option("id", doc_id)), guild=one, permissions=MANAGE_GUILD))
    assert "Ana Quispe" in embed_text(callback.json["data"])
    _, refused = await standin.response(await standin.slash(
        "article", article("remove", option("id", doc_id)), guild=two, permissions=MANAGE_GUILD))
    assert refused is not None and "no article" in embed_text(refused.json)
    _, removed = await standin.response(await standin.slash(
        "article", article("remove", option("id", doc_id)), guild=one, permissions=MANAGE_GUILD))
    assert removed is not None and "Removed: Llamas" in embed_text(removed.json)
    _, after = await ask_slash(standin, "When do herders shear the wool?", guild=one)
    assert after is not None and "Llamas" not in str(after.json)
    await bot.logs.flush()
    assert logged(bot, "SELECT action, result, guild, user FROM moderation ORDER BY id") == [
        ("add", "done", one.id, standin.alice["id"]),
        ("remove", "refused", two.id, standin.alice["id"]),
        ("remove", "done", one.id, standin.alice["id"])]


async def test_discord_article_add_by_attachment_and_refusals(discord_env) -> None:  # type: ignore[no-untyped-def]
    """A PDF attachment is added by a member with the Moderator role; bad sources are refused."""
    standin, connect = discord_env
    await connect()
    guild = standin.guilds[1]
    roles = [guild.mod_role_id]

    async def add(*options: dict[str, Any], resolved: dict[str, Any] | None = None
                  ) -> str:
        inter = await standin.slash("article", article("add", *options), guild=guild,
                                    roles=roles, resolved=resolved)
        callback, followup = await standin.response(inter)
        body = followup.json if followup is not None else callback.json["data"]
        return embed_text(body) if body.get("embeds") else body["content"]

    pdf = standin.attach("report.pdf", make_pdf(REPORT_LINES, "Puno water report"))
    added = await add(option("file", pdf["id"], 11),
                      resolved={"attachments": {pdf["id"]: pdf}})
    assert "Added:" in added, added
    _, answer = await ask_slash(standin, "What will engineers do to the main canal?",
                                guild=guild)
    assert answer is not None and "line the main canal with concrete" in embed_text(answer.json)

    image = standin.attach("cat.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    assert "not '.png'" in await add(option("file", image["id"], 11),
                                     resolved={"attachments": {image["id"]: image}})
    huge = standin.attach("big.pdf", b"%PDF-1.4", size=50 * 1024 * 1024)
    too_big = await add(option("file", huge["id"], 11),
                        resolved={"attachments": {huge["id"]: huge}})
    assert "big.pdf is 52.4 MB; the limit is 5 MB" in too_big  # 50 MiB, in decimal MB
    assert "link-local address" in await add(option("url", "http://169.254.169.254/latest/"))
    assert "exactly one source" in await add()
    assert "needs a `title`" in await add(option("text", "Some text " * 50))
    pasted = await add(option("text", "A pasted note about quinoa prices in Puno, "
                              f"@everyone <@&{guild.mod_role_id}> **bold**. " * 20),
                       option("title", "Quinoa @everyone prices"))
    assert "Added: Quinoa @\u200beveryone prices" in pasted
    _, answer = await ask_slash(standin, "What about quinoa prices in Puno?", guild=guild)
    assert answer is not None
    cited = embed_text(answer.json)
    assert "quinoa prices" in cited and "@\u200beveryone" in cited
    assert "@everyone" not in cited and f"<@&{guild.mod_role_id}>" not in cited
    assert "\\*\\*bold\\*\\*" in cited  # markdown from an article shows as typed


async def test_discord_non_moderator_is_refused_privately(discord_env) -> None:  # type: ignore[no-untyped-def]
    """Without Manage Server or the Moderator role, every moderator command is refused."""
    standin, connect = discord_env
    bot = await connect()
    for options in (article("add", option("url", "https://example.org/")),
                    article("remove", option("id", "peru-rural-resistance")), article("list"),
                    article("show", option("id", "peru-rural-resistance"))):
        callback, followup = await standin.response(await standin.slash(
            "article", options, user=standin.bob))
        assert followup is None and callback.json["type"] == 4
        assert callback.json["data"]["flags"] & EPHEMERAL
        assert "Only moderators" in callback.json["data"]["content"]
    callback, _ = await standin.response(await standin.slash("stats", user=standin.bob))
    assert "Only moderators" in callback.json["data"]["content"]
    await bot.logs.flush()
    assert logged(bot, "SELECT count(*) FROM moderation WHERE result = 'refused'")[0][0] == 5


async def test_discord_stats_sources_and_help(discord_env) -> None:  # type: ignore[no-untyped-def]
    """/stats attaches its chart; /sources lists what this server can cite; /help explains."""
    standin, connect = discord_env
    await connect()
    await ask_slash(standin, JULI)
    await ask_slash(standin, OFF_TOPIC)
    _, stats = await standin.response(await standin.slash("stats", permissions=MANAGE_GUILD))
    assert stats is not None and stats.files and stats.files[0]["filename"] == "stats.png"
    assert stats.files[0]["size"] > 1000
    text = embed_text(stats.json)
    assert "Questions: 2, answered 1 (50%)" in text and OFF_TOPIC[:40] in text
    callback, _ = await standin.response(await standin.slash("sources"))
    assert "Rural-Based Popular Resistance" in embed_text(callback.json["data"])
    callback, _ = await standin.response(await standin.slash("help"))
    assert "/article add" in embed_text(callback.json["data"])


async def test_discord_auto_annotation_marks_strong_matches_at_a_limited_rate(discord_env) -> None:  # type: ignore[no-untyped-def]
    """Off by default; once a moderator switches it on, a supported claim gets one 📎 per
    interval, and adding 📎 shows its sources once."""
    standin, connect = discord_env
    bot = await connect()
    callback, _ = await standin.response(await standin.slash(
        "annotate", [option("on", True, 5)], permissions=MANAGE_GUILD))
    assert "not enabled" in callback.json["data"]["content"]

    bot = await connect(auto_annotate=True, annotate_interval_seconds=3600)
    intents = discord.Intents._from_value(standin.identify["intents"])
    assert intents.message_content and intents.guild_reactions
    channel = standin.guild.channel_id
    claim = "Castillo was removed by a congressional coup, not by the people"
    start = len(standin.requests)
    await standin.say(claim)  # not switched on in this channel yet
    callback, _ = await standin.response(await standin.slash(
        "annotate", [option("on", True, 5)], user=standin.bob))
    assert "Only moderators" in callback.json["data"]["content"]
    callback, _ = await standin.response(await standin.slash(
        "annotate", [option("on", True, 5)], permissions=MANAGE_GUILD))
    assert "**on**" in callback.json["data"]["content"]

    chatter = await standin.say("good morning everyone, lovely weather today in Lima")
    marked = await standin.say(claim, user=standin.bob)
    reaction = await standin.wait_for(lambda c: c.method == "PUT" and "/reactions/" in c.path,
                                      start=start)
    assert reaction.path == f"/channels/{channel}/messages/{marked['id']}/reactions/📎/@me"
    assert not any(chatter["id"] in c.path for c in standin.requests[start:])
    second = await standin.say("Pedro Castillo was ousted in a coup by the Congress in December",
                               user=standin.bob)
    start = len(standin.requests)
    await standin.react(marked, "📎")
    sources = await standin.wait_sent(channel, start=start)
    assert str(sources.json["message_reference"]["message_id"]) == marked["id"]
    assert "> Castillo was removed" in embed_text(sources.json)
    await standin.react(marked, "📎", user=standin.bob)  # shown once only
    await standin.react(second, "📎")  # never marked: the interval had not passed
    await asyncio.sleep(1.0)
    assert not any(c.method == "PUT" and second["id"] in c.path for c in standin.requests)
    assert len([c for c in standin.requests[start:] if c.method == "POST"]) == 1

    bot = await connect(auto_annotate=True)  # the switch survives a restart
    assert bot.get_cog("AnnotateCog").channels.is_on(int(channel))  # type: ignore[union-attr]


# --- load --------------------------------------------------------------------------------


async def test_discord_cooldown_and_busy_replies(discord_env) -> None:  # type: ignore[no-untyped-def]
    """A second question within the cooldown waits; a full queue answers "busy"."""
    standin, connect = discord_env
    bot = await connect()
    bot.gate = Gate(max_pending=16, cooldown=60)
    await ask_slash(standin, JULI)
    callback, _ = await ask_slash(standin, JULI)
    assert "Please wait" in callback.json["data"]["content"]
    assert callback.json["data"]["flags"] & EPHEMERAL

    bot.gate = Gate(max_pending=1, cooldown=0)
    bot.engine.lock.acquire()  # the first question waits in its worker thread
    try:
        slow = await standin.slash("ask", [option("question", JULI)])
        await standin.wait_for(lambda c: c.path.startswith(f"/interactions/{slow['id']}/"))
        callback, _ = await ask_slash(standin, JULI, user=standin.bob)
        assert "busy" in callback.json["data"]["content"]
        start = len(standin.requests)
        await standin.say(JULI, mention_bot=True, user=standin.bob)
        sent = await standin.wait_sent(standin.guild.channel_id, start=start)
        assert "busy" in sent.json["content"]
    finally:
        bot.engine.lock.release()
    _, followup = await standin.response(slow)
    assert followup is not None and followup.json["embeds"]
