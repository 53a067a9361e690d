"""Auto-annotation: a 📎 on messages the articles closely support, sources on request.

Off unless the host sets ``discord.auto_annotate`` (it needs the Message
Content intent) and a moderator switches it on in a channel with /annotate.
It never floods a discussion: at most one 📎 per channel per interval, only
for a strong match (cosine similarity over ``annotate_min_similarity``), and
it yields to questions (it only runs when the work queue has room). Anyone
who adds 📎 to a marked message gets its sources once, as a reply.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import QuestionError
from index.retrieval import MAX_QUESTION_CHARS, Answer

from ..utils.annotations import FILE_NAME, AnnotatedChannels
from ..utils.checks import moderator_only
from ..utils.render import cut, one_line

if TYPE_CHECKING:
    from ..app import CitebotBot

log = logging.getLogger(__name__)

CLIP = "📎"
MIN_CHARS = 20
"""Shorter messages ("lol", "good morning") are never looked up."""


class AnnotateCog(commands.Cog):
    """/annotate, and the listener that marks supported messages."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        self.channels = AnnotatedChannels({}, bot.settings.data_dir / FILE_NAME,
                                          bot.settings.discord.annotate_interval_seconds)

    async def cog_load(self) -> None:
        """Read the saved switches off the event loop (it is file I/O)."""
        self.channels = await asyncio.to_thread(
            AnnotatedChannels.load, self.bot.settings.data_dir / FILE_NAME,
            self.bot.settings.discord.annotate_interval_seconds)

    @app_commands.command(name="annotate",
                          description="Switch 📎 auto-annotation in this channel (moderators)")
    @app_commands.describe(on="True: mark messages the articles support here; False: stop")
    @app_commands.guild_only()
    async def annotate(self, interaction: discord.Interaction, on: bool) -> None:
        """Switch auto-annotation for the channel the command is used in."""
        action = "annotate_on" if on else "annotate_off"
        where = str(interaction.channel_id)
        if not await moderator_only(interaction, self.bot.settings.discord.moderator_roles,
                                    self.bot.logs, action, where):
            return
        if not self.bot.settings.discord.auto_annotate:
            await interaction.response.send_message(
                "Auto-annotation is not enabled for this bot: its host can set "
                "`auto_annotate = true` in the [discord] config (it needs the Message Content "
                "intent).", ephemeral=True)
            return
        assert interaction.channel_id is not None and interaction.guild_id is not None
        await asyncio.to_thread(self.channels.switch, interaction.channel_id,
                                interaction.guild_id, on)
        self.bot.logs.moderation(action, "done", user=str(interaction.user.id),
                                 guild=str(interaction.guild_id), target=where)
        interval = self.channels.interval
        text = (f"Auto-annotation is **on** in this channel: a message the articles closely "
                f"support gets a {CLIP}; add {CLIP} to it yourself to see the sources. At most "
                f"one {CLIP} every {interval:g} s." if on
                else "Auto-annotation is **off** in this channel.")
        await interaction.response.send_message(text)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Mark a message with 📎 when an article strongly supports it (and the channel may)."""
        settings = self.bot.settings.discord
        me = self.bot.user
        if (not settings.auto_annotate or message.author.bot or message.guild is None
                or me is None or me in message.mentions
                or not self.channels.is_on(message.channel.id)):
            return
        text = one_line(message.content or "")
        if len(text) < MIN_CHARS or not self.channels.may_annotate(message.channel.id):
            return
        scope = str(message.guild.id)

        async def searching() -> Answer:
            return await self.bot.answerer.search(cut(text, MAX_QUESTION_CHARS), scope, 3)

        try:  # background work: it runs only when the bot is not busy (questions come first)
            answer = await self.bot.gate.through(searching, user_id=None)
        except QuestionError:
            return
        if answer is None:
            return
        best = max((c.similarity for c in answer.results), default=-1.0)
        if not answer.answered or best < settings.annotate_min_similarity:
            return
        if not self.channels.may_annotate(message.channel.id):
            return  # another message won the interval while this one was searched
        self.channels.mark(message.channel.id, message.id)
        try:
            await message.add_reaction(CLIP)
        except discord.HTTPException as exc:
            log.warning("could not add a reaction in channel %s: %s", message.channel.id, exc)

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, event: discord.RawReactionActionEvent) -> None:
        """Someone asks for the sources of a marked message: reply with them, once."""
        me = self.bot.user
        if (str(event.emoji) != CLIP or me is None or event.user_id == me.id
                or self.channels.marked.get(event.message_id) != ""):
            return
        self.channels.marked[event.message_id] = "shown"
        channel = self.bot.get_channel(event.channel_id)
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            return
        try:
            message = await channel.fetch_message(event.message_id)
        except discord.HTTPException:
            return  # deleted meanwhile
        text = one_line(message.content or "")
        thread = channel.id if isinstance(channel, discord.Thread) else None
        reply = await self.bot.gate.through(lambda: self.bot.answerer.sources_for(
            text, message.author.display_name, str(event.guild_id or ""), mode="annotation",
            user_id=event.user_id, channel_id=channel.id, thread_id=thread), user_id=None)
        if reply is None:
            self.channels.marked[event.message_id] = ""  # busy: let a later 📎 try again
            return
        if reply.embed is None:
            return
        try:
            sent = await message.reply(embed=reply.embed, view=reply.view, mention_author=False)
        except discord.HTTPException as exc:
            if not self.bot.posting.cannot_post(channel, exc):
                log.warning("could not reply with sources in channel %s: %s", channel.id, exc)
            return
        self.bot.answerer.sent(reply, sent.id)


async def setup(bot: CitebotBot) -> None:
    """The extension's entry point (``bot.load_extension("bot.cogs.annotate")``)."""
    await bot.add_cog(AnnotateCog(bot))
