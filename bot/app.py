"""The bot: a discord.py ``AutoShardedBot`` holding what its features share, and running it.

``CitebotBot`` loads the model, index and log once in ``setup_hook`` (the engine
in a worker thread: loading is blocking), then the features, one cog extension
each (``bot/cogs/``). It holds what they share: the ``Gate`` every question
passes (``bot/utils/gate.py``), the ``Answerer`` that searches, logs and
renders (``bot/utils/answering.py``; its ``Batcher`` embeds the questions asked
at about the same moment in one model call), and the ``Memory`` of questions
answered. Every message goes out with ``allowed_mentions`` none (set on the
client, so no send can forget it).

``serve`` runs the bot until SIGTERM or Ctrl-C, then ``shutdown`` drains it: new
questions are asked to come back, the answers in flight are sent and their
message ids logged, and only then is the connection closed. Problems only the
operator can fix (token, privileged intents) end it with an ``OperatorError``
(``bot/utils/operator.py``; importable from here, where ``citebot serve`` and
``sync`` find ``run`` and ``sync_globally``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from index.config import Settings
from index.logs import LogStore, NoLog, open_log
from index.retrieval import Batcher, Engine
from index.retrieval.following import Follower

from .utils.answering import Answerer
from .utils.gate import Gate
from .utils.in_flight import InFlight
from .utils.memory import Memory
from .utils.operator import (
    EXIT_ACCESS,
    EXIT_INTENTS,
    EXIT_TOKEN,
    TOKEN_REFUSED,
    TOKEN_REVOKED,
    OperatorError,
    commands_refused,
    intents_problem,
)
from .utils.posting import PostingProblems
from .utils.views import MoreButton, VoteButton

__all__ = ["EXIT_ACCESS", "EXIT_INTENTS", "EXIT_TOKEN", "CitebotBot", "OperatorError",
           "intents_for", "run", "serve", "sync_globally"]

log = logging.getLogger(__name__)

EXTENSIONS = ("bot.cogs.ask", "bot.cogs.help", "bot.cogs.articles", "bot.cogs.annotate")
"""The features, loaded in this order; each module's ``setup`` adds its cog."""


def intents_for(settings: Settings) -> discord.Intents:
    """The least that works: guilds, guild and direct messages (mentions and replies with
    their ping on reach a bot without the privileged Message Content intent); Message
    Content only when ``message_content``, ask channels or auto-annotation ask for it, and
    reactions only for auto-annotation.

    Direct messages are asked for even when ``dms`` is off, so that a DM gets a polite
    line rather than silence."""
    d = settings.discord
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = d.message_content or bool(d.ask_channels) or d.auto_annotate
    intents.guild_reactions = d.auto_annotate
    return intents


class CitebotBot(commands.AutoShardedBot):
    """citebot on Discord. Pass ``engine``/``logs`` to reuse loaded ones (tests do)."""

    def __init__(self, settings: Settings, engine: Engine | None = None,
                 logs: LogStore | NoLog | None = None, sync_only: bool = False,
                 on_answering: Callable[[], Awaitable[None]] | None = None,
                 **options: object) -> None:
        # citebot has no prefix commands (on_message below never runs them); commands.Bot
        # still needs a prefix, and when_mentioned is the one that raises no warning about
        # the Message Content intent.
        # The shards this process runs (None: all of them, as many as Discord recommends).
        super().__init__(
            command_prefix=commands.when_mentioned, intents=intents_for(settings),
            allowed_mentions=discord.AllowedMentions.none(), help_command=None,
            shard_ids=settings.discord.shard_ids or None,
            shard_count=settings.discord.shard_count or None,
            **options,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.sync_only = sync_only
        self._engine = engine
        self._logs = logs
        self.batcher = Batcher(lambda queries: self.engine.ask_many(queries))
        """Questions asked at about the same moment are embedded in one model call."""
        self.gate = Gate(settings.discord.max_pending, settings.discord.cooldown_seconds,
                         settings.discord.max_wait_seconds,
                         cost=lambda: self.batcher.seconds_per_question)
        """Who may ask now; every entry point goes through it (``Gate.through``)."""
        self.in_flight = InFlight()
        """The answers a shutdown waits for."""
        self.memory = Memory(lambda: self.logs)
        """Questions answered, for More sources and follow-ups."""
        self.answerer = Answerer(settings.discord.citations, self.batcher,
                                 lambda: self.engine, lambda: self.logs, self.memory,
                                 self.in_flight, on_answering)
        """Searches, logs and renders a question into the reply every entry point sends."""
        self.posting = PostingProblems()
        """Missing Permissions in a channel, explained to the operator once."""
        self.follower = Follower(lambda: self.engine, interval=settings.index.follow_seconds)
        """Takes in the articles other processes on this data directory add or remove;
        given PostgreSQL's NOTIFY in ``setup_hook`` when the log is there."""
        self._following: asyncio.Task[None] | None = None

    async def on_message(self, message: discord.Message, /) -> None:
        """Nothing: the ask cog listens for messages. The prefix-command machinery is left
        out, as it would log CommandNotFound for every mention of the bot."""

    @property
    def engine(self) -> Engine:
        """The loaded engine (available once ``setup_hook`` ran)."""
        assert self._engine is not None, "the engine loads in setup_hook"
        return self._engine

    @property
    def logs(self) -> LogStore | NoLog:
        """The log store (or NoLog when logging is off or unusable)."""
        return self._logs if self._logs is not None else NoLog()

    @property
    def stopping(self) -> asyncio.Event:
        """Set when shutdown begins: questions arriving from then on are asked to come back."""
        return self.in_flight.stopping

    async def setup_hook(self) -> None:
        """Load the model, index and log once; load the features and the restart-proof
        buttons; then register the commands in the dev guilds (at once, unlike a global
        sync, which Discord may take an hour to show)."""
        if self._engine is None and not self.sync_only:
            self._engine = await asyncio.to_thread(Engine.open, self.settings)
        if self._logs is None:
            self._logs = await open_log(self.settings.logs, self.settings.log_path)
        if not self.sync_only:
            await self._follow_other_processes()
        self.add_dynamic_items(VoteButton, MoreButton)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.tree.on_error = self.on_app_command_error
        if self.sync_only:
            return
        for guild_id in self.settings.discord.dev_guilds:
            guild = discord.Object(id=int(guild_id))
            self.tree.copy_global_to(guild=guild)
            try:
                await self.tree.sync(guild=guild)
            except discord.Forbidden as exc:
                raise OperatorError(commands_refused(guild_id, exc), EXIT_ACCESS) from None

    async def _follow_other_processes(self) -> None:
        """Start taking in the changes of other processes serving this data directory,
        woken by PostgreSQL's NOTIFY when the log is on PostgreSQL, else polling."""
        url = self.settings.logs.url
        if self.settings.logs.enabled and url.startswith(("postgresql:", "postgres:")):
            from index.logs.notify import PostgresSignal  # asyncpg only when configured

            self.follower = Follower(lambda: self.engine, PostgresSignal(url),
                                     self.settings.index.follow_seconds)
        self._following = asyncio.create_task(self.follower.run(), name="citebot-follow")
        loop = asyncio.get_running_loop()
        follower = self.follower

        def announce() -> None:  # in the worker thread that published the change
            loop.call_soon_threadsafe(lambda: follower.announce_soon())

        self.engine.on_change = announce

    async def close(self) -> None:
        """Disconnect, then flush and close the log (once, however often close is called).

        This cancels nothing itself, but answers still running lose their connection:
        ``shutdown`` lets them finish first."""
        await super().close()
        if self._following is not None:
            if self._engine is not None:
                self._engine.on_change = None
            self._following.cancel()
            await asyncio.gather(self._following, return_exceptions=True)
            self._following = None
            await self.follower.close()
        logs, self._logs = self._logs, NoLog()
        if logs is not None:
            await logs.close()

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

    # --- stopping without losing answers ---------------------------------------------------

    async def finish_in_flight(self, timeout: float | None = None) -> set[asyncio.Task[Any]]:
        """Wait until no answer is in flight (at most ``timeout`` seconds, or until
        ``stop_now``); returns the tasks still running."""
        return await self.in_flight.finish(timeout)

    def stop_now(self) -> None:
        """Cut the shutdown wait short (a second Ctrl-C)."""
        self.in_flight.hurry()

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop taking questions, let the answers in flight finish and be sent (their message
        ids reach the log) for up to ``grace`` seconds, then close: the log is flushed."""
        grace = self.settings.discord.shutdown_grace_seconds if grace is None else grace
        self.stopping.set()
        busy = self.in_flight.count()
        if busy:
            log.info("stopping: finishing %d answers in flight (up to %g s)", busy, grace)
        unfinished = await self.finish_in_flight(grace)
        if unfinished:
            log.warning("stopping: %d answers were not finished within %g s and are not "
                        "sent (raise discord.shutdown_grace_seconds to wait longer)",
                        len(unfinished), grace)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        await self.logs.flush()
        await self.close()


async def serve(bot: CitebotBot, token: str, stop: asyncio.Event) -> None:
    """Run ``bot`` until ``stop`` is set, then shut down without losing the answers in
    flight (``CitebotBot.shutdown``). ``run`` wires ``stop`` to SIGTERM and Ctrl-C.

    Raises:
        OperatorError: Discord refused the token (at start, or later: it was revoked) or a
            privileged intent; the message says what to change.
    """
    try:
        async with bot:
            running = asyncio.create_task(bot.start(token))
            stopping = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
            if not running.done():
                if not bot.is_ready():
                    running.cancel()  # still logging in or loading: no answer to finish
                await bot.shutdown()
            try:
                await running  # raises what made the bot stop, if anything did
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise
    except discord.LoginFailure:
        raise OperatorError(TOKEN_REFUSED, EXIT_TOKEN) from None
    except discord.PrivilegedIntentsRequired:
        raise OperatorError(intents_problem(bot.settings, bot.intents), EXIT_INTENTS) from None
    except discord.ConnectionClosed as exc:
        if exc.code == 4004:
            raise OperatorError(TOKEN_REVOKED, EXIT_TOKEN) from None
        raise


def run(settings: Settings, token: str) -> int:
    """Run the bot until SIGTERM or SIGINT, then stop without losing answers: 0 when done.

    A second signal stops at once, without waiting for answers in flight.

    Raises:
        OperatorError: see ``serve``.
    """

    async def main() -> None:
        bot = CitebotBot(settings)
        stop = asyncio.Event()

        def on_signal() -> None:
            if stop.is_set():
                bot.stop_now()
            stop.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        await serve(bot, token, stop)

    asyncio.run(main())
    return 0


def sync_globally(settings: Settings, token: str) -> list[str]:
    """Publish the slash commands to every server (Discord may take up to an hour).

    Raises:
        OperatorError: Discord refused the token.
    """

    async def main() -> list[str]:
        bot = CitebotBot(settings, logs=NoLog(), sync_only=True)
        async with bot:
            await bot.login(token)
            synced = await bot.tree.sync()
        return [c.name for c in synced]

    try:
        return asyncio.run(main())
    except discord.LoginFailure:
        raise OperatorError(TOKEN_REFUSED, EXIT_TOKEN) from None
