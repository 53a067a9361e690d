"""The buttons under an answer: Helpful, Not helpful, More sources.

They are dynamic items: the question id (and page) live in the custom id, so a
click is understood after a restart, with no view held in memory. A vote is
logged (one per user per answer, changeable); More sources searches again and
shows the next page to whoever clicked.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import discord

from .render import answer_embed

if TYPE_CHECKING:
    from .app import CitebotBot

MAX_PAGES = 5


def answer_view(question_id: str, more_page: int | None) -> discord.ui.View:
    """Buttons for an answer; ``more_page`` is the page More sources opens (None: no more)."""
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton(question_id, True))
    view.add_item(VoteButton(question_id, False))
    if more_page is not None and more_page < MAX_PAGES:
        view.add_item(MoreButton(question_id, more_page))
    return view


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                 template=r"cb:v:(?P<vote>[ud]):(?P<qid>[0-9a-f]{32})"):
    """Helpful / Not helpful."""

    def __init__(self, question_id: str, helpful: bool) -> None:
        super().__init__(discord.ui.Button(
            label="Helpful" if helpful else "Not helpful",
            emoji="👍" if helpful else "👎",
            style=discord.ButtonStyle.secondary,
            custom_id=f"cb:v:{'u' if helpful else 'd'}:{question_id}",
        ))
        self.question_id = question_id
        self.helpful = helpful

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button[Any],
                             match: Any) -> VoteButton:
        return cls(match["qid"], match["vote"] == "u")

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: CitebotBot = interaction.client  # type: ignore[assignment]
        verdict = "helpful" if self.helpful else "not helpful"
        try:  # Discord waits 3 s for the reply; the write is normally a few ms
            recorded = await asyncio.wait_for(
                bot.logs.vote(self.question_id, str(interaction.user.id), self.helpful), 2.0)
        except TimeoutError:
            text = ("I could not confirm that your vote was recorded in time; "
                    "please click again in a moment.")
        else:
            text = (f"Thanks: your vote ({verdict}) is recorded. Click the other button to "
                    "change it." if recorded else
                    "Your vote was not recorded: this answer is no longer in the log (the log "
                    "may be switched off or this answer purged). Ask again to vote on a new one.")
        await interaction.response.send_message(text, ephemeral=True)


class MoreButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                 template=r"cb:m:(?P<qid>[0-9a-f]{32}):(?P<page>[0-9]{1,2})"):
    """More sources: the next page of citations, shown to the clicker."""

    def __init__(self, question_id: str, page: int) -> None:
        super().__init__(discord.ui.Button(
            label="More sources", emoji="📚", style=discord.ButtonStyle.primary,
            custom_id=f"cb:m:{question_id}:{page}",
        ))
        self.question_id = question_id
        self.page = page

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button[Any],
                             match: Any) -> MoreButton:
        return cls(match["qid"], int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: CitebotBot = interaction.client  # type: ignore[assignment]
        asked = await bot.recall(question_id=self.question_id)
        if asked is None:
            await interaction.response.send_message(
                "I no longer have this question on record; please ask it again.", ephemeral=True)
            return
        # Paging an answer already given is not a new question: no cooldown, but it is
        # work, so it still counts toward "busy".
        refusal = bot.gate.admit(interaction.user.id, cooldown=False)
        if refusal:
            await interaction.response.send_message(refusal, ephemeral=True)
            return
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            per_page = bot.settings.discord.citations
            shown = per_page * (self.page + 1)
            answer = await bot.answer(asked.text, asked.scope, shown)
        finally:
            bot.gate.release()
        first = per_page * self.page
        page = list(answer.results[first:shown])
        more = self.page + 1 if len(answer.results) > shown else None
        embed = answer_embed(asked.text, answer, page, first_rank=first + 1,
                             heading=f"More sources (page {self.page + 1})")
        await interaction.followup.send(embed=embed, view=answer_view(self.question_id, more),
                                        ephemeral=True)
