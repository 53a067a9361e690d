"""The buttons under an answer: Helpful, Not helpful, More sources.

They are dynamic items: the question id (and page) live in the custom id, so a
click is understood after a restart, with no view held in memory. A vote is
logged (one per user per answer, changeable); More sources searches again and
shows the next page to whoever clicked, through the same gate as a question.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, cast

import discord

from index.logs import Recorder
from index.retrieval import Answer

from .gate import Gate, privately
from .memory import Memory
from .render import answer_embed

MAX_PAGES = 5


class Searches(Protocol):
    """The answerer, as More sources uses it (``bot.utils.answering.Answerer``)."""

    citations: int

    async def search(self, question: str, scope: str, shown: int) -> Answer: ...


class ButtonHost(Protocol):
    """What a click needs of the bot (``bot.app.CitebotBot`` provides it): named here so
    that the buttons, which the answerer builds, need nothing from the app."""

    gate: Gate
    memory: Memory
    answerer: Searches

    @property
    def logs(self) -> Recorder: ...


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
        """The button, from its custom id alone: a click works after a restart."""
        return cls(match["qid"], match["vote"] == "u")

    async def callback(self, interaction: discord.Interaction) -> None:
        """Record the vote, and say so only once it is written (or that it could not be)."""
        bot = cast(ButtonHost, interaction.client)
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
        """The button, from its custom id alone: a click works after a restart."""
        return cls(match["qid"], int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """The next page, privately. Paging an answer already given is not a new question:
        no cooldown, but it is work, so it still counts toward "busy"."""
        bot = cast(ButtonHost, interaction.client)
        asked = await bot.memory.recall(question_id=self.question_id)
        if asked is None:
            await interaction.response.send_message(
                "I no longer have this question on record; please ask it again.", ephemeral=True)
            return
        per_page = bot.answerer.citations
        shown = per_page * (self.page + 1)

        async def searching() -> Answer:
            await interaction.response.defer(ephemeral=True, thinking=True)
            return await bot.answerer.search(asked.text, asked.scope, shown)

        answer = await bot.gate.through(searching, user_id=interaction.user.id,
                                        tell=privately(interaction), cooldown=False)
        if answer is None:
            return
        first = per_page * self.page
        page = list(answer.results[first:shown])
        more = self.page + 1 if len(answer.results) > shown else None
        embed = answer_embed(asked.text, answer, page, first_rank=first + 1,
                             heading=f"More sources (page {self.page + 1})")
        await interaction.followup.send(embed=embed, view=answer_view(self.question_id, more),
                                        ephemeral=True)
