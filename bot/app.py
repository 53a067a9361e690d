"""The bot: a discord.py ``AutoShardedBot`` holding the engine, the log and the rules of use.

The model, index and log store are loaded once in ``setup_hook`` (the engine
in a worker thread: loading is blocking). Features live in cogs under
``bot/cogs/``. Every message goes out with ``allowed_mentions`` none (set on
the client, so no send can forget it). Questions pass a ``Gate``: a per-user
cooldown and a bound on questions in flight, so a flood gets "busy, try again
shortly" rather than an unbounded queue.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import OrderedDict
from dataclasses import dataclass

import discord
from discord import app_commands
from discord.ext import commands

from index.config import Settings
from index.engine import Engine
from index.errors import CitebotError, QuestionError
from index.logstore import LogStore, NoLog, open_log
from index.search import Answer

from .render import NOTHING_FOUND, answer_embed, question_problem
from .views import answer_view

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Asked:
    """What the bot remembers of an answered question, to page it or follow it up."""

    question_id: str
    text: str
    scope: str


class Gate:
    """Per-user cooldown and a bound on questions being answered at once."""

    def __init__(self, max_pending: int, cooldown: float) -> None:
        self.max_pending = max_pending
        self.cooldown = cooldown
        self.pending = 0
        self._last: dict[int, float] = {}

    def admit(self, user_id: int) -> str | None:
        """None if the question may go ahead (and it is counted), else a polite refusal."""
        now = time.monotonic()
        wait = self._last.get(user_id, -1e9) + self.cooldown - now
        if wait > 0:
            return f"Please wait {wait:.0f} s before asking again."
        if self.pending >= self.max_pending:
            return "I am busy answering other questions; please try again shortly."
        self._last[user_id] = now
        self.pending += 1
        if len(self._last) > 10_000:
            cutoff = now - self.cooldown
            self._last = {u: t for u, t in self._last.items() if t > cutoff}
        return None

    def enter(self) -> bool:
        """Count background work (auto-annotation) if there is room; it never waits its turn."""
        if self.pending >= self.max_pending:
            return False
        self.pending += 1
        return True

    def release(self) -> None:
        """A question admitted earlier is done."""
        self.pending -= 1


def intents_for(settings: Settings) -> discord.Intents:
    """The least that works: guilds and guild messages (mentions and replies reach a bot
    without the privileged Message Content intent); Message Content only for ask channels
    or auto-annotation, and reactions only for auto-annotation."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.message_content = bool(settings.discord.ask_channels) or settings.discord.auto_annotate
    intents.guild_reactions = settings.discord.auto_annotate
    return intents


class CitebotBot(commands.AutoShardedBot):
    """citebot on Discord. Pass ``engine``/``logs`` to reuse loaded ones (tests do)."""

    def __init__(self, settings: Settings, engine: Engine | None = None,
                 logs: LogStore | NoLog | None = None, sync_only: bool = False,
                 **options: object) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned, intents=intents_for(settings),
            allowed_mentions=discord.AllowedMentions.none(), help_command=None,
            **options,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.sync_only = sync_only
        self._engine = engine
        self._logs = logs
        self.gate = Gate(settings.discord.max_pending, settings.discord.cooldown_seconds)
        self.asked: OrderedDict[str, Asked] = OrderedDict()
        self.answers: OrderedDict[int, str] = OrderedDict()
        """Answer message id -> question id, for follow-ups (the log keeps it across restarts)."""

    @property
    def engine(self) -> Engine:
        """The loaded engine (available once ``setup_hook`` ran)."""
        assert self._engine is not None, "the engine loads in setup_hook"
        return self._engine

    @property
    def logs(self) -> LogStore | NoLog:
        """The log store (or NoLog when logging is off or unusable)."""
        return self._logs if self._logs is not None else NoLog()

    async def setup_hook(self) -> None:
        """Load the model, index and log once; add the cogs and the restart-proof buttons."""
        from .cogs.annotate import AnnotateCog
        from .cogs.articles import ArticlesCog
        from .cogs.ask import AskCog
        from .views import MoreButton, VoteButton

        if self._engine is None and not self.sync_only:
            self._engine = await asyncio.to_thread(Engine.open, self.settings)
        if self._logs is None:
            self._logs = await open_log(self.settings.logs, self.settings.log_path)
        self.add_dynamic_items(VoteButton, MoreButton)
        await self.add_cog(AskCog(self))
        await self.add_cog(ArticlesCog(self))
        await self.add_cog(AnnotateCog(self))
        self.tree.on_error = self.on_app_command_error
        if self.sync_only:
            return
        for guild_id in self.settings.discord.dev_guilds:
            guild = discord.Object(id=int(guild_id))
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)

    async def close(self) -> None:
        """Disconnect, then flush and close the log (once, however often close is called)."""
        await super().close()
        logs, self._logs = self._logs, NoLog()
        if logs is not None:
            await logs.close()

    # --- answering, shared by the cogs ----------------------------------------------------

    async def answer(self, question: str, scope: str, shown: int) -> Answer:
        """Search off the event loop; ``shown`` citations plus one to know if there are more."""
        return await asyncio.to_thread(self.engine.ask, question, shown + 1, ("", scope))

    async def answer_reply(
        self, question: str, scope: str, count: int | None, mode: str, user_id: int,
        channel_id: int | None, thread_id: int | None = None, parent_id: str | None = None,
        heading: str = "Sources",
    ) -> str | tuple[discord.Embed, discord.ui.View, Asked]:
        """Search, log, and build the reply: an embed with its buttons, or a polite text
        (nothing relevant, or a question that cannot be asked) to send instead."""
        shown = count or self.settings.discord.citations
        started = time.perf_counter()
        try:
            answer = await self.answer(question, scope, shown)
        except QuestionError as exc:
            return question_problem(exc)
        latency = (time.perf_counter() - started) * 1000
        citations = list(answer.results[:shown])
        shown_answer = Answer(answer.question, answer.answered, tuple(citations))
        question_id = self.engine.record(
            self.logs, shown_answer, latency, mode, guild=scope, channel=str(channel_id or ""),
            thread=str(thread_id or ""), user=str(user_id), parent_id=parent_id)
        asked = Asked(question_id, answer.question, scope)
        self.remember(asked)
        if not answer.answered:
            return NOTHING_FOUND
        embed = answer_embed(answer.question, answer, citations, heading=heading)
        more = 1 if len(answer.results) > shown else None
        return embed, answer_view(question_id, more), asked

    def remember(self, asked: Asked, message_id: int | None = None) -> None:
        """Keep a question (and the message that answered it) for paging and follow-ups."""
        self.asked[asked.question_id] = asked
        while len(self.asked) > 5000:
            self.asked.popitem(last=False)
        if message_id is not None:
            self.answers[message_id] = asked.question_id
            while len(self.answers) > 5000:
                self.answers.popitem(last=False)
            self.logs.answer_message(asked.question_id, str(message_id))

    async def recall(self, question_id: str = "", message_id: int | None = None) -> Asked | None:
        """A question answered earlier, from memory or (after a restart) from the log."""
        if message_id is not None and not question_id:
            question_id = self.answers.get(message_id, "")
            if not question_id:
                found = await self.logs.lookup(message_id=str(message_id))
                return Asked(found["id"], found["text"], found["guild"]) if found else None
        if question_id in self.asked:
            return self.asked[question_id]
        found = await self.logs.lookup(question_id=question_id)
        return Asked(found["id"], found["text"], found["guild"]) if found else None

    async def on_app_command_error(self, interaction: discord.Interaction,
                                   error: app_commands.AppCommandError) -> None:
        """Any failure in a command ends in a polite ephemeral message, never silence."""
        log.error("command %s failed", getattr(interaction.command, "name", "?"),
                  exc_info=error)
        text = "Sorry, something went wrong while doing that. Please try again."
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not tell the user about the failure")


def run(settings: Settings, token: str) -> int:
    """Run the bot until SIGTERM or SIGINT, then close cleanly (the log is flushed)."""

    async def main() -> None:
        bot = CitebotBot(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with bot:
            running = asyncio.create_task(bot.start(token))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if stop.is_set():
                log.info("stopping: closing the connection and flushing the log")
            await bot.close()
            await running  # raises what made the bot stop, if anything did

    try:
        asyncio.run(main())
    except discord.LoginFailure:
        raise CitebotError("Discord refused the token; copy it again from the Developer "
                           "Portal (Bot > Reset Token)") from None
    except discord.PrivilegedIntentsRequired:
        raise CitebotError("ask_channels needs the Message Content intent: switch it on in the "
                           "Developer Portal (Bot > Privileged Gateway Intents), or empty "
                           "ask_channels") from None
    return 0


def sync_globally(settings: Settings, token: str) -> list[str]:
    """Publish the slash commands to every server (Discord may take up to an hour)."""

    async def main() -> list[str]:
        bot = CitebotBot(settings, logs=NoLog(), sync_only=True)
        async with bot:
            await bot.login(token)
            synced = await bot.tree.sync()
        return [c.name for c in synced]

    try:
        return asyncio.run(main())
    except discord.LoginFailure:
        raise CitebotError("Discord refused the token; copy it again from the Developer "
                           "Portal (Bot > Reset Token)") from None
