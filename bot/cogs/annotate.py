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
from index.retrieval import MAX_QUESTION_CHARS

from ..annotations import FILE_NAME, AnnotatedChannels
from ..render import cut, one_line, with_quoted_message
from .articles import REFUSAL, is_moderator

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
        if not is_moderator(interaction, self.bot.settings.discord.moderator_roles):
            self.bot.logs.moderation(action, "refused", user=str(interaction.user.id),
                                     guild=str(interaction.guild_id), target=where,
                                     detail="not a moderator")
            await interaction.response.send_message(REFUSAL, ephemeral=True)
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
        if not self.bot.gate.enter():
            return  # questions come first
        try:
            answer = await self.bot.answer(cut(text, MAX_QUESTION_CHARS), str(message.guild.id),
                                           3)
        except QuestionError:
            return
        finally:
            self.bot.gate.release()
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
        if not self.bot.gate.enter():
            self.channels.marked[event.message_id] = ""  # let a later 📎 try again
            return
        try:
            result = await self.bot.answer_reply(
                cut(text, MAX_QUESTION_CHARS), str(event.guild_id or ""), None, "annotation",
                event.user_id, channel.id,
                channel.id if isinstance(channel, discord.Thread) else None,
                heading="Sources for a message")
        finally:
            self.bot.gate.release()
        if isinstance(result, str):
            return
        embed, view, asked = result
        with_quoted_message(embed, text, message.author.display_name)
        try:
            sent = await message.reply(embed=embed, view=view, mention_author=False)
        except discord.HTTPException as exc:
            if not self.bot.cannot_post(channel, exc):
                log.warning("could not reply with sources in channel %s: %s", channel.id, exc)
            return
        self.bot.remember(asked, sent.id)
