"""The bot: a discord.py ``AutoShardedBot`` holding the engine, the log and the rules of use.

The model, index and log store are loaded once in ``setup_hook`` (the engine
in a worker thread: loading is blocking). Features live in cogs under
``bot/cogs/``. Every message goes out with ``allowed_mentions`` none (set on
the client, so no send can forget it). Questions pass a ``Gate`` (``bot/gate.py``:
a quiet per-user cooldown, and "busy" only when the queued work would take too
long) and are answered through a ``Batcher``, which embeds the questions asked
at about the same moment in one model call.

``serve`` runs the bot until SIGTERM or Ctrl-C, then ``shutdown`` drains it: new
questions are asked to come back, the answers in flight are sent and their
message ids logged, and only then is the connection closed. Problems only the
operator can fix (token, privileged intents) end it with an ``OperatorError``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from index.config import Settings
from index.errors import CitebotError, QuestionError
from index.logs import LogStore, NoLog, open_log, record_answer
from index.retrieval import Answer, Batcher, Engine

from .gate import Gate
from .render import answer_embed, not_found, question_problem
from .views import answer_view

log = logging.getLogger(__name__)

EXIT_TOKEN = 3
"""``citebot serve``/``sync`` exit code: Discord refused the token (at start or mid-run)."""
EXIT_INTENTS = 4
"""``citebot serve`` exit code: a privileged intent the bot asks for is not enabled."""
EXIT_ACCESS = 5
"""``citebot serve`` exit code: Discord refused to register the commands in a dev guild."""
RESTARTING = "I am restarting; please ask again in a minute."


def commands_refused(guild_id: str, error: discord.Forbidden) -> str:
    """The line for a dev guild where Discord will not take the slash commands."""
    return (f"Discord refused to register the slash commands in server {guild_id} "
            f"(403 {error.text or 'Forbidden'}, code {error.code}): the bot is not in that "
            "server, or was invited without the applications.commands scope. Invite it with "
            "both the bot and applications.commands scopes (OAuth2 > URL Generator), or "
            f"remove {guild_id} from discord.dev_guilds")


class OperatorError(CitebotError):
    """A problem only the bot's operator can fix (token, portal settings): one line, and the
    exit code the README documents for it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Asked:
    """What the bot remembers of an answered question, to page it or follow it up."""

    question_id: str
    text: str
    scope: str


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
        super().__init__(
            command_prefix=commands.when_mentioned, intents=intents_for(settings),
            allowed_mentions=discord.AllowedMentions.none(), help_command=None,
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
        self.asked: OrderedDict[str, Asked] = OrderedDict()
        self.answers: OrderedDict[int, str] = OrderedDict()
        """Answer message id -> question id, for follow-ups (the log keeps it across restarts)."""
        self.stopping = asyncio.Event()
        """Set when shutdown begins: questions arriving from then on are asked to come back."""
        self._stop_now = asyncio.Event()
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._on_answering = on_answering
        self._told_permissions: set[tuple[int, str]] = set()

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
            try:
                await self.tree.sync(guild=guild)
            except discord.Forbidden as exc:
                raise OperatorError(commands_refused(guild_id, exc), EXIT_ACCESS) from None

    async def close(self) -> None:
        """Disconnect, then flush and close the log (once, however often close is called).

        This cancels nothing itself, but answers still running lose their connection:
        ``shutdown`` lets them finish first."""
        await super().close()
        logs, self._logs = self._logs, NoLog()
        if logs is not None:
            await logs.close()

    # --- answering, shared by the cogs ----------------------------------------------------

    async def answer(self, question: str, scope: str, shown: int) -> Answer:
        """Search off the event loop, batched with the questions asked at the same moment;
        ``shown`` citations plus one to know if there are more."""
        return await self.batcher.ask(question, shown + 1, ("", scope))

    async def answer_reply(
        self, question: str, scope: str, count: int | None, mode: str, user_id: int,
        channel_id: int | None, thread_id: int | None = None, parent_id: str | None = None,
        heading: str = "Sources",
    ) -> str | tuple[discord.Embed, discord.ui.View, Asked]:
        """Search, log, and build the reply: an embed with its buttons, or a polite text
        (nothing relevant, or a question that cannot be asked) to send instead."""
        self._track_current_task()
        if self.stopping.is_set():
            return RESTARTING
        if self._on_answering is not None:
            await self._on_answering()
        shown = count or self.settings.discord.citations
        started = time.perf_counter()
        try:
            answer = await self.answer(question, scope, shown)
        except QuestionError as exc:
            return question_problem(exc)
        latency = (time.perf_counter() - started) * 1000
        citations = list(answer.results[:shown])
        # Logged as not answered (with the citations found) until it is delivered:
        # remember() with the message id marks it answered, so an answer that is never
        # sent (a failed send, a crash, a shutdown that ran out of time) never counts.
        shown_answer = Answer(answer.question, False, tuple(citations))
        question_id = record_answer(
            self.logs, shown_answer, latency, mode, model=self.engine.embedder.name,
            index_version=self.engine.index_version, guild=scope, channel=str(channel_id or ""),
            thread=str(thread_id or ""), user=str(user_id), parent_id=parent_id)
        asked = Asked(question_id, answer.question, scope)
        self.remember(asked)
        if not answer.answered:
            return not_found(answer)
        embed = answer_embed(answer.question, answer, citations, heading=heading)
        more = 1 if len(answer.results) > shown else None
        return embed, answer_view(question_id, more), asked

    def remember(self, asked: Asked, message_id: int | None = None) -> None:
        """Keep a question (and the message that answered it) for paging and follow-ups.

        With ``message_id`` (the answer was sent) the log marks the question answered."""
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

    # --- stopping without losing answers ---------------------------------------------------

    def _track_current_task(self) -> None:
        """Count the task answering now as in flight until it ends (its send included)."""
        task = asyncio.current_task()
        if task is not None and task not in self._in_flight:
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def finish_in_flight(self, timeout: float | None = None) -> set[asyncio.Task[Any]]:
        """Wait until no answer is in flight (at most ``timeout`` seconds, or until
        ``stop_now``); returns the tasks still running. Answers that start meanwhile (the
        "restarting" replies) are waited for too."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        hurry = asyncio.ensure_future(self._stop_now.wait())
        try:
            while True:
                running = {t for t in self._in_flight
                           if not t.done() and t is not asyncio.current_task()}
                left = None if deadline is None else deadline - loop.time()
                if not running or (left is not None and left <= 0) or hurry.done():
                    return running
                await asyncio.wait({*running, hurry}, timeout=left,
                                   return_when=asyncio.FIRST_COMPLETED)
        finally:
            hurry.cancel()

    def stop_now(self) -> None:
        """Cut the shutdown wait short (a second Ctrl-C)."""
        self._stop_now.set()

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop taking questions, let the answers in flight finish and be sent (their message
        ids reach the log) for up to ``grace`` seconds, then close: the log is flushed."""
        grace = self.settings.discord.shutdown_grace_seconds if grace is None else grace
        self.stopping.set()
        busy = len([t for t in self._in_flight if not t.done()])
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

    def cannot_post(self, channel: object, error: BaseException, thread: bool = False) -> bool:
        """True if ``error`` is Discord's Missing Permissions (403, code 50013) for posting in
        ``channel``; then one warning per channel names the permissions to grant (later
        failures there stay quiet) and the bot carries on."""
        if not (isinstance(error, discord.Forbidden) and error.code == 50013):
            return False
        if thread:
            needed = "Create Public Threads and Send Messages in Threads"
        elif isinstance(channel, discord.Thread):
            needed = "Send Messages in Threads, Embed Links and Read Message History"
        else:
            needed = "Send Messages, Embed Links and Read Message History"
        channel_id = int(getattr(channel, "id", 0) or 0)
        if (channel_id, needed) in self._told_permissions:
            log.debug("missing permissions in channel %s again", channel_id)
            return True
        self._told_permissions.add((channel_id, needed))
        name = getattr(channel, "name", None)
        where = f"#{name} ({channel_id})" if name else f"channel {channel_id}"
        log.warning("cannot answer in %s: Discord says Missing Permissions; give the bot %s "
                    "there (Server Settings > Roles, or the channel's Edit Channel > "
                    "Permissions). Further failures in this channel are not logged.",
                    where, needed)
        return True

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


TOKEN_REFUSED = ("Discord refused the bot token (401 Unauthorized); copy it again from the "
                 "Developer Portal (your application > Bot > Reset Token) into DISCORD_TOKEN "
                 "or token in [discord]")
TOKEN_REVOKED = ("Discord closed the connection because the bot token is no longer valid "
                 "(close code 4004: it was reset or revoked); copy the new one from the "
                 "Developer Portal (Bot > Reset Token) into DISCORD_TOKEN and start again")


def intents_problem(settings: Settings, intents: discord.Intents) -> str:
    """Close code 4014 explained: the privileged intents asked for, the settings that asked
    for them, and where to switch them on."""
    d = settings.discord
    asked: list[str] = []
    reasons: list[str] = []
    if intents.message_content:
        asked.append("Message Content")
        reasons += [name for name, on in (
            ("discord.message_content is true", getattr(d, "message_content", False)),
            ("discord.ask_channels is set", bool(d.ask_channels)),
            ("discord.auto_annotate is true", d.auto_annotate)) if on]
    if intents.members:
        asked.append("Server Members")
    if intents.presences:
        asked.append("Presence")
    which = " and ".join(asked) or "a privileged"
    because = f" because {' and '.join(reasons)}" if reasons else ""
    undo = (f", or change {' and '.join(r.split()[0] for r in reasons)} so it is not needed"
            if reasons else "")
    return (f"Discord refused the connection (close code 4014): the bot asks for the {which} "
            f"intent{because}, and it is not enabled for this bot. Switch on {which} Intent "
            f"in the Developer Portal (your application > Bot > Privileged Gateway "
            f"Intents){undo}")


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
