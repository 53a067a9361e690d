"""Asking: /ask, a mention, an ask channel, follow-ups, Find sources, /sources and /help."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.retrieval import MAX_QUESTION_CHARS

from ..once import OncePer
from ..render import cut, notice, one_line, safe, with_quoted_message
from ..source_requests import is_source_request

if TYPE_CHECKING:
    from ..app import Asked, CitebotBot

HELP = """\
**/ask** `question` `[count]`: the passages of the articles that answer it, quoted and cited.
**Mention me** with a question, or **reply** to one of my answers to follow up ("and Puno?").
**Reply to someone's message** with "@citebot source?" for the sources behind it.
**Find sources** (right-click a message → Apps): sources behind what someone said.
**Direct messages**: ask me there too (answers come from the shared articles only).
**Helpful / Not helpful** under an answer tell moderators what works; **More sources** pages on.
**/sources**: the articles this server can cite.
Moderators (Manage Server or a moderator role): **/article add** (`url`, `file`, or `text` with \
`title`), **/article remove**, **/article list**, **/article show**, **/stats**, and \
**/annotate** (a 📎 on messages the articles support, when the host enabled it)."""

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@!?(\d+)>")

Reply = str | tuple[discord.Embed, discord.ui.View, "Asked"]
"""What answering gives: a polite text to send, or the answer embed with its buttons."""


def without_mention(text: str, me: int) -> str:
    """The text with the bot's own mentions taken out (other people's stay)."""
    return _MENTION.sub(lambda m: "" if int(m.group(1)) == me else m.group(0), text).strip()

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
        except Exception as exc:
            if self.bot.cannot_post(message.channel, exc):
                return  # warned once for the channel; no reply can go there either
            log.exception("answering message %s failed", message.id)
            try:
                await message.reply("Sorry, something went wrong while answering that. "
                                    "Please try again.", mention_author=False)
            except discord.HTTPException:
                log.warning("could not tell the user about the failure")

    async def _on_message(self, message: discord.Message) -> None:
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
        parent = await self._parent(message)
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
        await self._answer_in_public(message, lambda: self.bot.answer_reply(
            question, scope, None, mode, message.author.id, message.channel.id, thread,
            parent_id))

    async def _answer_in_public(self, message: discord.Message,
                                answering: Callable[[], Awaitable[Reply]]) -> None:
        """Pass the gate, answer, and reply in the channel (a mention, a follow-up, a
        "source?"): a too-fast person is told at most once per cooldown window."""
        verdict = self.bot.gate.admit_in_public(message.author.id)
        if not verdict.admitted:
            if verdict.notice:
                await message.reply(verdict.notice, mention_author=False)
            return
        try:
            result = await answering()
        finally:
            self.bot.gate.release()
        if isinstance(result, str):
            await message.reply(result, mention_author=False)
            return
        embed, view, asked = result
        sent = await message.reply(embed=embed, view=view, mention_author=False)
        self.bot.remember(asked, sent.id)

    async def _parent(self, message: discord.Message) -> Asked | None:
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
        await self._answer_in_public(message, lambda: self._sources_for(
            text, author, guild_id, message.author.id, message.channel.id, thread,
            mode="source_request"))

    async def _sources_for(self, text: str, author: str, scope: str, user_id: int,
                           channel_id: int | None, thread_id: int | None = None,
                           mode: str = "context_menu") -> Reply:
        """Sources behind someone's message (Find sources and "@citebot source?"): the answer
        embed headed "Sources for a message", with the message and its author quoted on top."""
        result = await self.bot.answer_reply(
            cut(text, MAX_QUESTION_CHARS), scope, None, mode, user_id, channel_id,
            thread_id, heading="Sources for a message")
        if not isinstance(result, str):
            with_quoted_message(result[0], text, author)
        return result

    # --- Find sources -------------------------------------------------------------------

    async def find_sources_callback(self, interaction: discord.Interaction,
                                    message: discord.Message) -> None:
        """Sources behind a message: quoted, cited, ephemerally or in a thread."""
        text = one_line(message.content or "")
        if not text:
            await interaction.response.send_message(
                NO_TEXT, ephemeral=True)
            return
        refusal = self.bot.gate.admit(interaction.user.id)
        if refusal:
            await interaction.response.send_message(refusal, ephemeral=True)
            return
        in_thread = self.bot.settings.discord.find_sources_reply == "thread"
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            result = await self._sources_for(text, message.author.display_name,
                                             str(interaction.guild_id or ""),
                                             interaction.user.id, interaction.channel_id)
        finally:
            self.bot.gate.release()
        if isinstance(result, str):
            await interaction.followup.send(result, ephemeral=True)
            return
        embed, view, asked = result
        if in_thread:
            try:
                thread = await message.create_thread(name=cut(f"Sources: {text}", 100))
                sent = await thread.send(embed=embed, view=view)
                self.bot.remember(asked, sent.id)
                await interaction.followup.send(f"Sources posted in {thread.mention}.",
                                                ephemeral=True)
                return
            except discord.HTTPException as exc:
                # no right to make threads here (warned once): answer privately instead
                self.bot.cannot_post(message.channel, exc, thread=True)
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
