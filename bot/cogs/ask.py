"""Asking: /ask, a mention, an ask channel, a DM, follow-ups, "@citebot source?" and Find sources.

Every way of asking goes through the bot's ``Gate`` (``Gate.through``) and is
answered by its ``Answerer``; what differs here is only where a question comes
from and where its reply goes (privately, in a thread, or as a reply in the
channel, which pings no one).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.retrieval import MAX_QUESTION_CHARS

from ..utils.answering import Reply
from ..utils.gate import in_reply, privately
from ..utils.once import OncePer
from ..utils.render import cut, one_line
from ..utils.source_requests import is_source_request

if TYPE_CHECKING:
    from ..app import CitebotBot

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@!?(\d+)>")

UNREAD_HINT = ("I can't read replies that don't mention me, so I missed that one. Reply with "
               "the **@ON** switch left on (next to the reply box), or start your message "
               "with {me}.")
CANNOT_READ = ("I can't read that message: Discord shows me only messages that mention me. "
               "Use **Find sources** on it instead: right-click it (or long-press on a phone) "
               "→ Apps → Find sources.")
NO_TEXT = "That message has no text I can look up sources for."
REPLIED_GONE = ("I can't find the message you replied to (it may have been deleted); reply to "
                "it again, or use Find sources on it.")
DMS_OFF = ("I don't answer direct messages: ask me in a server instead, by mentioning me or "
           "with `/ask`.")


def without_mention(text: str, me: int) -> str:
    """The text with the bot's own mentions taken out (other people's stay)."""
    return _MENTION.sub(lambda m: "" if int(m.group(1)) == me else m.group(0), text).strip()


class AskCog(commands.Cog):
    """Questions from slash commands, mentions, ask channels, replies and the context menu."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        self.find_sources = app_commands.ContextMenu(name="Find sources",
                                                     callback=self.find_sources_callback)
        bot.tree.add_command(self.find_sources)
        self.hinted = OncePer()
        """(person, channel or thread) pairs already told how to reply so the bot can read."""

    async def cog_unload(self) -> None:
        """Take the context menu out of the tree: it was added by hand, not by the cog."""
        self.bot.tree.remove_command(self.find_sources.name, type=self.find_sources.type)

    # --- /ask ---------------------------------------------------------------------------

    @app_commands.command(name="ask", description="Answer a question with quoted, cited passages")
    @app_commands.describe(question="What do you want to know?",
                           count="How many citations (1-10)")
    @app_commands.guild_only()
    async def ask(self, interaction: discord.Interaction,
                  question: app_commands.Range[str, 1, 6000],
                  count: app_commands.Range[int, 1, 10] | None = None) -> None:
        """The slash command: a deferred reply with the answer embed and its buttons."""

        async def answering() -> Reply:
            await interaction.response.defer(thinking=True)
            return await self.bot.answerer.reply(
                question, str(interaction.guild_id or ""), mode="slash",
                user_id=interaction.user.id, channel_id=interaction.channel_id, count=count)

        reply = await self.bot.gate.through(answering, user_id=interaction.user.id,
                                            tell=privately(interaction))
        if reply is None:
            return
        if reply.embed is None:
            await interaction.followup.send(reply.text)
            return
        message = await interaction.followup.send(embed=reply.embed, view=reply.view,
                                                  wait=True)
        self.bot.answerer.sent(reply, message.id)

    # --- mentions, ask channels, DMs, follow-ups --------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A mention, a message in an ask channel, a DM or a reply to an answer is a question.

        A failure ends in a polite reply (when one can be sent), never in silence."""
        try:
            await self._on_message(message)
        except Exception as exc:
            if self.bot.posting.cannot_post(message.channel, exc):
                return  # warned once for the channel; no reply can go there either
            log.exception("answering message %s failed", message.id)
            try:
                await message.reply("Sorry, something went wrong while answering that. "
                                    "Please try again.", mention_author=False)
            except discord.HTTPException:
                log.warning("could not tell the user about the failure")

    async def _on_message(self, message: discord.Message) -> None:
        """Sort a message out: not for the bot, a request for sources, or a question (new or
        a follow-up); then answer it in the channel."""
        me = self.bot.user
        if message.author.bot or me is None:
            return
        direct = message.guild is None
        if direct and not self.bot.settings.discord.dms:
            await message.reply(DMS_OFF, mention_author=False)
            return
        mentioned = me in message.mentions
        text = without_mention(message.content, me.id)
        if mentioned and not direct and message.reference is not None \
                and is_source_request(text):
            replied = await self._replied_to(message)
            if replied is None or replied.author.id != me.id:
                await self._source_reply(message, replied)
                return
        in_ask_channel = str(message.channel.id) in self.bot.settings.discord.ask_channels
        parent = await self.bot.memory.followed_up(message, me)
        if not (direct or mentioned or in_ask_channel or parent is not None):
            resolved = message.reference.resolved if message.reference else None
            if isinstance(resolved, discord.Message) and resolved.author.id == me.id:
                await self._hint_unread(message)
            return
        if not text:
            if direct:
                await message.reply("Ask me a question about the articles, e.g. why are "
                                    "people protesting?", mention_author=False)
            elif mentioned:
                await message.reply("Ask me something after the mention, e.g. "
                                    f"<@{me.id}> why are people protesting?",
                                    mention_author=False)
            elif parent is not None:
                await self._hint_unread(message)
            return
        mode = "dm" if direct else "channel" if in_ask_channel and not mentioned else "mention"
        parent_id = None
        question = text
        if parent is not None:
            mode, parent_id = "follow_up", parent.question_id
            question = cut(f"{parent.text} {text}", MAX_QUESTION_CHARS)
        thread = message.channel.id if isinstance(message.channel, discord.Thread) else None
        # A DM is answered from the global articles only, never a server's own.
        scope = str(message.guild.id) if message.guild is not None else ""
        await self._answer_in_public(message, lambda: self.bot.answerer.reply(
            question, scope, mode=mode, user_id=message.author.id,
            channel_id=message.channel.id, thread_id=thread, parent_id=parent_id))

    async def _answer_in_public(self, message: discord.Message,
                                answering: Callable[[], Awaitable[Reply]]) -> None:
        """Pass the gate, answer, and reply in the channel (a mention, a follow-up, a DM, a
        "source?"): a too-fast person is told at most once per cooldown window."""
        reply = await self.bot.gate.through(answering, user_id=message.author.id,
                                            tell=in_reply(message), public=True)
        if reply is None:
            return
        if reply.embed is None:
            await message.reply(reply.text, mention_author=False)
            return
        sent = await message.reply(embed=reply.embed, view=reply.view, mention_author=False)
        self.bot.answerer.sent(reply, sent.id)

    async def _hint_unread(self, message: discord.Message) -> None:
        """Without the Message Content intent a reply whose ping is off reaches the bot blank:
        tell the person how to be read, once per person and channel (or thread)."""
        if self.bot.intents.message_content or message.content or self.bot.user is None:
            return
        if self.hinted.first((message.author.id, message.channel.id)):
            await message.reply(UNREAD_HINT.format(me=f"<@{self.bot.user.id}>"),
                                mention_author=False)

    @staticmethod
    async def _replied_to(message: discord.Message) -> discord.Message | None:
        """The message a reply answers: as Discord sent it along, else read over REST."""
        reference = message.reference
        if reference is None or reference.message_id is None:
            return None
        if isinstance(reference.resolved, discord.Message):
            return reference.resolved
        if isinstance(reference.resolved, discord.DeletedReferencedMessage):
            return None
        try:
            return await message.channel.fetch_message(reference.message_id)
        except discord.HTTPException:
            return None

    async def _source_reply(self, message: discord.Message,
                            replied: discord.Message | None) -> None:
        """A reply to someone with "@citebot source?": sources for their message, found as
        Find sources finds them, in a public reply. Without the Message Content intent their text
        is hidden from the bot (unless it mentions the bot): then say so and point to Find
        sources, which Discord does hand the text to."""
        me = self.bot.user
        if replied is None or me is None or message.guild is None:
            await message.reply(REPLIED_GONE, mention_author=False)
            return
        text = one_line(without_mention(replied.content or "", me.id))
        if not text:
            unreadable = not replied.content and not self.bot.intents.message_content
            await message.reply(CANNOT_READ if unreadable else NO_TEXT, mention_author=False)
            return
        thread = message.channel.id if isinstance(message.channel, discord.Thread) else None
        guild_id, author = str(message.guild.id), replied.author.display_name
        await self._answer_in_public(message, lambda: self.bot.answerer.sources_for(
            text, author, guild_id, mode="source_request", user_id=message.author.id,
            channel_id=message.channel.id, thread_id=thread))

    # --- Find sources -------------------------------------------------------------------

    async def find_sources_callback(self, interaction: discord.Interaction,
                                    message: discord.Message) -> None:
        """Sources behind a message: quoted, cited, ephemerally or in a thread."""
        text = one_line(message.content or "")
        if not text:
            await interaction.response.send_message(NO_TEXT, ephemeral=True)
            return

        async def answering() -> Reply:
            await interaction.response.defer(ephemeral=True, thinking=True)
            return await self.bot.answerer.sources_for(
                text, message.author.display_name, str(interaction.guild_id or ""),
                mode="context_menu", user_id=interaction.user.id,
                channel_id=interaction.channel_id)

        reply = await self.bot.gate.through(answering, user_id=interaction.user.id,
                                            tell=privately(interaction))
        if reply is None:
            return
        if reply.embed is None:
            await interaction.followup.send(reply.text, ephemeral=True)
            return
        if self.bot.settings.discord.find_sources_reply == "thread":
            try:
                thread = await message.create_thread(name=cut(f"Sources: {text}", 100))
                sent = await thread.send(embed=reply.embed, view=reply.view)
                self.bot.answerer.sent(reply, sent.id)
                await interaction.followup.send(f"Sources posted in {thread.mention}.",
                                                ephemeral=True)
                return
            except discord.HTTPException as exc:
                # no right to make threads here (warned once): answer privately instead
                self.bot.posting.cannot_post(message.channel, exc, thread=True)
        sent = await interaction.followup.send(embed=reply.embed, view=reply.view,
                                               ephemeral=True, wait=True)
        self.bot.answerer.sent(reply, sent.id)


async def setup(bot: CitebotBot) -> None:
    """The extension's entry point (``bot.load_extension("bot.cogs.ask")``)."""
    await bot.add_cog(AskCog(bot))
