"""Asking: /ask, a mention, an ask channel, follow-ups, Find sources, /sources and /help."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.questions import MAX_QUESTION_CHARS

from ..render import cut, notice, one_line, safe, with_quoted_message

if TYPE_CHECKING:
    from ..app import CitebotBot

HELP = """\
**/ask** `question` `[count]`: the passages of the articles that answer it, quoted and cited.
**Mention me** with a question, or **reply** to one of my answers to follow up ("and Puno?").
**Find sources** (right-click a message → Apps): sources behind what someone said.
**Helpful / Not helpful** under an answer tell moderators what works; **More sources** pages on.
**/sources**: the articles this server can cite.
Moderators (Manage Server or a moderator role): **/article add** (`url`, `file`, or `text` with \
`title`), **/article remove**, **/article list**, **/article show**, **/stats**, and \
**/annotate** (a 📎 on messages the articles support, when the host enabled it)."""

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@!?(\d+)>")


class AskCog(commands.Cog):
    """Questions from slash commands, mentions, ask channels, replies and the context menu."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        self.find_sources = app_commands.ContextMenu(name="Find sources",
                                                     callback=self.find_sources_callback)
        bot.tree.add_command(self.find_sources)

    async def cog_unload(self) -> None:
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
        refusal = self.bot.gate.admit(interaction.user.id)
        if refusal:
            await interaction.response.send_message(refusal, ephemeral=True)
            return
        try:
            await interaction.response.defer(thinking=True)
            result = await self.bot.answer_reply(
                question, str(interaction.guild_id or ""), count, "slash", interaction.user.id,
                interaction.channel_id)
        finally:
            self.bot.gate.release()
        if isinstance(result, str):
            await interaction.followup.send(result)
            return
        embed, view, asked = result
        message = await interaction.followup.send(embed=embed, view=view, wait=True)
        self.bot.remember(asked, message.id)

    # --- mentions, ask channels, follow-ups ---------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A mention, a message in an ask channel, or a reply to an answer is a question.

        A failure ends in a polite reply (when one can be sent), never in silence."""
        try:
            await self._on_message(message)
        except Exception:
            log.exception("answering message %s failed", message.id)
            try:
                await message.reply("Sorry, something went wrong while answering that. "
                                    "Please try again.", mention_author=False)
            except discord.HTTPException:
                log.warning("could not tell the user about the failure")

    async def _on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if message.author.bot or me is None or message.guild is None:
            return
        mentioned = me in message.mentions
        in_ask_channel = str(message.channel.id) in self.bot.settings.discord.ask_channels
        parent = await self._parent(message)
        if not (mentioned or in_ask_channel or parent is not None):
            return
        text = _MENTION.sub(lambda m: "" if int(m.group(1)) == me.id else m.group(0),
                            message.content).strip()
        if not text:
            if mentioned:
                await message.reply("Ask me something after the mention, e.g. "
                                    f"<@{me.id}> why are people protesting?",
                                    mention_author=False)
            return
        refusal = self.bot.gate.admit(message.author.id)
        if refusal:
            await message.reply(refusal, mention_author=False)
            return
        try:
            mode = "channel" if in_ask_channel and not mentioned else "mention"
            parent_id = None
            question = text
            if parent is not None:
                mode, parent_id = "follow_up", parent.question_id
                question = cut(f"{parent.text} {text}", MAX_QUESTION_CHARS)
            thread = message.channel.id if isinstance(message.channel, discord.Thread) else None
            result = await self.bot.answer_reply(
                question, str(message.guild.id), None, mode, message.author.id,
                message.channel.id, thread, parent_id)
        finally:
            self.bot.gate.release()
        if isinstance(result, str):
            await message.reply(result, mention_author=False)
            return
        embed, view, asked = result
        sent = await message.reply(embed=embed, view=view, mention_author=False)
        self.bot.remember(asked, sent.id)  # type: ignore[arg-type]

    async def _parent(self, message: discord.Message):  # type: ignore[no-untyped-def]
        """The earlier question a message follows up: a reply to an answer, or a message in a
        thread started from one."""
        me = self.bot.user
        reference = message.reference
        if reference is not None and reference.message_id is not None:
            resolved = reference.resolved
            if isinstance(resolved, discord.Message) and me and resolved.author.id != me.id:
                return None
            return await self.bot.recall(message_id=reference.message_id)
        if isinstance(message.channel, discord.Thread):
            return await self.bot.recall(message_id=message.channel.id)
        return None

    # --- Find sources -------------------------------------------------------------------

    async def find_sources_callback(self, interaction: discord.Interaction,
                                    message: discord.Message) -> None:
        """Sources behind a message: quoted, cited, ephemerally or in a thread."""
        text = one_line(message.content or "")
        if not text:
            await interaction.response.send_message(
                "That message has no text I can look up sources for.", ephemeral=True)
            return
        refusal = self.bot.gate.admit(interaction.user.id)
        if refusal:
            await interaction.response.send_message(refusal, ephemeral=True)
            return
        in_thread = self.bot.settings.discord.find_sources_reply == "thread"
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            result = await self.bot.answer_reply(
                cut(text, MAX_QUESTION_CHARS), str(interaction.guild_id or ""), None,
                "context_menu", interaction.user.id, interaction.channel_id,
                heading="Sources for a message")
        finally:
            self.bot.gate.release()
        if isinstance(result, str):
            await interaction.followup.send(result, ephemeral=True)
            return
        embed, view, asked = result
        with_quoted_message(embed, text, message.author.display_name)
        if in_thread:
            try:
                thread = await message.create_thread(name=cut(f"Sources: {text}", 100))
                sent = await thread.send(embed=embed, view=view)
                self.bot.remember(asked, sent.id)
                await interaction.followup.send(f"Sources posted in {thread.mention}.",
                                                ephemeral=True)
                return
            except discord.HTTPException:
                pass  # no right to make threads here: answer privately instead
        sent = await interaction.followup.send(embed=embed, view=view, ephemeral=True, wait=True)
        self.bot.remember(asked, sent.id)

    # --- /sources and /help -------------------------------------------------------------

    @app_commands.command(name="sources", description="The articles this server can cite")
    @app_commands.describe(page="Page number")
    @app_commands.guild_only()
    async def sources(self, interaction: discord.Interaction,
                      page: app_commands.Range[int, 1, 1000] = 1) -> None:
        """List the articles this server can cite, ten per page."""
        articles = await asyncio.to_thread(self.bot.engine.library.info,
                                           str(interaction.guild_id or ""))
        lines = [f"*{safe(cut(a.title, 120))}*" + (f" by {safe(a.author)}" if a.author else "")
                 + (" (added here)" if a.scope else "") for a in articles]
        await interaction.response.send_message(
            embed=paged_embed("Articles I can cite", lines, page), ephemeral=True)

    @app_commands.command(name="help", description="What citebot can do")
    async def help(self, interaction: discord.Interaction) -> None:
        """Explain the commands."""
        await interaction.response.send_message(embed=notice(HELP, "citebot"), ephemeral=True)


def paged_embed(title: str, lines: list[str], page: int, per_page: int = 10) -> discord.Embed:
    """One page of a list, with the page count in the footer."""
    pages = max(1, -(-len(lines) // per_page))
    page = min(max(1, page), pages)
    chunk = lines[(page - 1) * per_page: page * per_page]
    embed = notice("\n".join(f"{(page - 1) * per_page + n}. {line}"
                             for n, line in enumerate(chunk, start=1)) or "None yet.", title)
    embed.set_footer(text=f"Page {page} of {pages} · {len(lines)} in all")
    return embed
