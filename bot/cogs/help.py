"""What the bot can do (/help) and what it can cite here (/sources), for anyone, privately."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..utils.render import cut, notice, paged_embed, safe

if TYPE_CHECKING:
    from ..app import CitebotBot

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


class HelpCog(commands.Cog):
    """/help and /sources: answers about the bot itself, never logged as questions."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot

    @app_commands.command(name="sources", description="The articles this server can cite")
    @app_commands.describe(page="Page number")
    @app_commands.guild_only()
    async def sources(self, interaction: discord.Interaction,
                      page: app_commands.Range[int, 1, 1000] = 1) -> None:
        """List the articles this server can cite, ten per page (read off the event loop:
        the library is on disk)."""
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


async def setup(bot: CitebotBot) -> None:
    """The extension's entry point (``bot.load_extension("bot.cogs.help")``)."""
    await bot.add_cog(HelpCog(bot))
