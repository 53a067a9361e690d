"""Moderators: /article add, remove, list, show, and /stats.

Everything here calls the same code as ``citebot add``/``remove``/``list``
(``index.articles``, ``Engine.add_async``/``remove_async``), with the server's
id as the scope, so an article added in a server is cited only there. Only
moderators may use these commands (``bot/utils/checks.py``). Every action,
refused or done, is logged and confirmed with an embed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.articles import Article, check_upload, from_plain, from_upload, read_url
from index.errors import CitebotError, MissingTitleError, NearDuplicateError

from ..utils.checks import moderator_only
from ..utils.render import COLOUR, cut, fit_embed, notice, paged_embed, safe

if TYPE_CHECKING:
    from ..app import CitebotBot


class ArticlesCog(commands.Cog):
    """Moderator commands over the corpus and the log."""

    article = app_commands.Group(name="article", description="Manage this server's articles",
                                 guild_only=True)

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot

    async def _allowed(self, interaction: discord.Interaction, action: str, target: str) -> bool:
        """Refuse (ephemerally, and logged) anyone who is not a moderator."""
        return await moderator_only(interaction, self.bot.settings.discord.moderator_roles,
                                    self.bot.logs, action, target)

    # --- add ----------------------------------------------------------------------------

    @article.command(name="add", description="Add an article from a URL, a file or pasted text")
    @app_commands.describe(url="A web page or PDF (http or https)",
                           file="A .txt, .md, .html or .pdf file",
                           text="The article's text (needs a title)",
                           title="The title (required with text; overrides the page's)",
                           author="The author (overrides the page's)",
                           force="Add even if most of its passages are already cited here")
    async def add(self, interaction: discord.Interaction, url: str | None = None,
                  file: discord.Attachment | None = None,
                  text: app_commands.Range[str, 1, 6000] | None = None,
                  title: app_commands.Range[str, 1, 200] | None = None,
                  author: app_commands.Range[str, 1, 200] | None = None,
                  force: bool = False) -> None:
        """Read the source, refuse duplicates, store it for this server and index it."""
        target = url or (file.filename if file else "") or (f"text: {title or ''}")
        if not await self._allowed(interaction, "add", target):
            return
        given = sum(x is not None for x in (url, file, text))
        problem = None
        if given != 1:
            problem = "Give exactly one source: `url`, `file`, or `text` (with `title`)."
        elif text is not None and not (title and title.strip()):
            problem = "Pasted text needs a `title`."
        elif file is not None:
            try:
                check_upload(file.filename, file.size, self.bot.settings.ingest.max_bytes)
            except CitebotError as exc:
                problem = str(exc)
        if problem:
            await self._refused(interaction, "add", target, problem, deferred=False)
            return
        # Private from the start: Discord shows the first follow-up with the deferral's
        # visibility, whatever flags it carries, so a public deferral would publish a refusal.
        await interaction.response.defer(ephemeral=True, thinking=True)
        scope = str(interaction.guild_id)
        try:
            article = await self._read(url, file, text)
            if title:
                article = dataclasses.replace(article, title=title)
            if author:
                article = dataclasses.replace(article, author=author)
            doc, report = await self.bot.engine.add_async(article, scope, force)
        except CitebotError as exc:
            await self._refused(interaction, "add", target, f"{exc}{_hint(exc)}", deferred=True)
            return
        self.bot.logs.moderation("add", "done", user=str(interaction.user.id), guild=scope,
                                 target=target, doc_id=doc.doc_id,
                                 detail=f"{report.added} passages")
        embed = discord.Embed(title=cut(f"Added: {safe(doc.title)}", 256), colour=COLOUR)
        embed.add_field(name="Author", value=safe(doc.author) or "unknown")
        embed.add_field(name="Passages", value=str(report.added))
        embed.add_field(name="Id", value=f"`{doc.doc_id}`")
        if doc.url:
            embed.add_field(name="Link", value=cut(f"<{doc.url}>", 1024), inline=False)
        embed.set_footer(text="Citable now, in this server only.")
        await interaction.followup.send(embed=fit_embed(embed), ephemeral=True)

    async def _read(self, url: str | None, file: discord.Attachment | None,
                    text: str | None) -> Article:
        """The article from whichever source was given; an upload is parsed in a worker
        thread, as parsing a PDF would hold up every other answer."""
        ingest = self.bot.settings.ingest
        if url is not None:
            return await read_url(url.strip(), ingest)
        if file is not None:
            try:
                data = await file.read()
            except discord.HTTPException:
                raise CitebotError("I could not download the attachment; try again") from None
            return await asyncio.to_thread(from_upload, file.filename, data, ingest.max_bytes)
        return from_plain(text or "")

    async def _refused(self, interaction: discord.Interaction, action: str, target: str,
                       reason: str, deferred: bool) -> None:
        """Log a refusal and tell the moderator why, privately."""
        self.bot.logs.moderation(action, "refused", user=str(interaction.user.id),
                                 guild=str(interaction.guild_id or ""), target=target,
                                 detail=reason)
        verb = {"add": "added", "remove": "removed"}.get(action, action)
        embed = notice(f"Not {verb}: {discord.utils.escape_mentions(reason)}", "Refused")
        embed.colour = discord.Colour.red()
        if deferred:
            await interaction.followup.send(embed=embed, ephemeral=True)
        else:
            await interaction.response.send_message(embed=embed, ephemeral=True)

    # --- remove, list, show -------------------------------------------------------------

    @article.command(name="remove", description="Remove an article added in this server")
    @app_commands.describe(id="The article's id (/article list shows them)")
    async def remove(self, interaction: discord.Interaction,
                     id: app_commands.Range[str, 1, 200]) -> None:
        """Delete an article of this server from the corpus and the index."""
        if not await self._allowed(interaction, "remove", id):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        scope = str(interaction.guild_id)
        try:
            doc, report = await self.bot.engine.remove_async(id.strip(), scope)
        except CitebotError as exc:
            reason = str(exc).replace("`citebot list`", "`/article list`")
            await self._refused(interaction, "remove", id, reason, deferred=True)
            return
        self.bot.logs.moderation("remove", "done", user=str(interaction.user.id), guild=scope,
                                 target=id, doc_id=doc.doc_id,
                                 detail=f"{report.removed} passages")
        embed = discord.Embed(title=cut(f"Removed: {safe(doc.title)}", 256), colour=COLOUR,
                              description=f"`{doc.doc_id}`, {report.removed} passages.")
        await interaction.followup.send(embed=fit_embed(embed), ephemeral=True)

    @article.command(name="list", description="The articles this server can cite, with ids")
    @app_commands.describe(page="Page number")
    async def list_articles(self, interaction: discord.Interaction,
                   page: app_commands.Range[int, 1, 1000] = 1) -> None:
        """Every article this server can cite: its id, title, and where it comes from."""
        if not await self._allowed(interaction, "list", ""):
            return
        infos = await asyncio.to_thread(self.bot.engine.library.info, str(interaction.guild_id))
        lines = [f"`{a.doc_id}` *{safe(cut(a.title, 100))}*"
                 + (" (added here)" if a.scope else " (bundled)" if a.bundled else "")
                 for a in infos]
        await interaction.response.send_message(embed=paged_embed("Articles", lines, page),
                                                ephemeral=True)

    @article.command(name="show", description="One article's details")
    @app_commands.describe(id="The article's id (/article list shows them)")
    async def show(self, interaction: discord.Interaction,
                   id: app_commands.Range[str, 1, 200]) -> None:
        """Title, author, date, link, comments and scope of one article."""
        if not await self._allowed(interaction, "show", id):
            return
        infos = await asyncio.to_thread(self.bot.engine.library.info, str(interaction.guild_id))
        found = next((a for a in infos if a.doc_id == id.strip()), None)
        if found is None:
            await interaction.response.send_message(
                f"No article with id `{safe(cut(id, 100))}` here; `/article list` shows the ids.",
                ephemeral=True)
            return
        embed = discord.Embed(title=cut(safe(found.title), 256), colour=COLOUR)
        embed.add_field(name="Id", value=f"`{found.doc_id}`")
        embed.add_field(name="Author", value=safe(found.author) or "unknown")
        embed.add_field(name="Date", value=found.date or "unknown")
        embed.add_field(name="Reader comments", value=str(found.comments))
        embed.add_field(name="Origin",
                        value="added in this server" if found.scope else "bundled corpus"
                        if found.bundled else "added globally")
        if found.url:
            embed.add_field(name="Link", value=cut(f"<{found.url}>", 1024), inline=False)
        await interaction.response.send_message(embed=fit_embed(embed), ephemeral=True)

    # --- /stats -------------------------------------------------------------------------

    @app_commands.command(name="stats", description="What was asked here, what helped, what is "
                                                    "missing (moderators)")
    @app_commands.guild_only()
    async def stats(self, interaction: discord.Interaction) -> None:
        """The log summary for this server, with its chart attached."""
        from index.logs import chart_png, render_stats

        if not await self._allowed(interaction, "stats", ""):
            return
        logs = self.bot.logs
        if not hasattr(logs, "stats"):
            await interaction.response.send_message(
                "The conversation log is switched off, so there are no statistics.",
                ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        summary = await logs.stats(guild=str(interaction.guild_id))
        chart = await asyncio.to_thread(chart_png, summary)
        text = discord.utils.escape_mentions(render_stats(summary)).replace("`", "ˋ")
        embed = discord.Embed(title="citebot statistics for this server", colour=COLOUR,
                              description=cut(f"```\n{cut(text, 3900)}\n```", 4096))
        embed.set_image(url="attachment://stats.png")
        await interaction.followup.send(embed=fit_embed(embed), ephemeral=True,
                                        file=discord.File(io.BytesIO(chart), "stats.png"))


def _hint(exc: CitebotError) -> str:
    """How a moderator gets past a refusal with /article add's own options."""
    if isinstance(exc, NearDuplicateError):
        return "; set `force` to True to add it anyway"
    if isinstance(exc, MissingTitleError):
        return " with the `title` option"
    return ""


async def setup(bot: CitebotBot) -> None:
    """The extension's entry point (``bot.load_extension("bot.cogs.articles")``)."""
    await bot.add_cog(ArticlesCog(bot))
