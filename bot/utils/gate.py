"""Who may ask now: a per-person cooldown, and "busy" only when the wait would be too long.

``Gate.through`` is the one way in for every entry point (slash commands, the
context menu, buttons, mentions, replies, direct messages and the background
auto-annotation): it decides, tells the refusal the way that entry point tells
it (``privately`` or ``in_reply``), and counts the work as pending while it runs.

A cooldown refusal is quiet. Slash commands and buttons are told privately
(ephemeral); a mention is told in the channel at most once per person per
cooldown window, and later too-fast mentions in that window get nothing. Not
even a reaction: every notice or reaction is a request that counts against the
channel's rate limit, which the answers to everyone else there share, so a
person hammering the bot must not turn into bot traffic that delays them.

"Busy" is said when the questions already admitted would keep a new one
waiting longer than ``max_wait`` seconds, estimated from the measured time per
question (``index.retrieval.batching.Batcher.seconds_per_question``): with questions
embedded in batches, a burst of dozens is answered in a second or two, so a
fixed count of questions in flight would refuse work the bot can do.
``max_pending`` stays as a plain upper bound on questions in flight.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import discord

T = TypeVar("T")

Tell = Callable[[str], Awaitable[object]]
"""Sends a refusal to the person refused (see ``privately`` and ``in_reply``)."""

BUSY = "I am busy answering other questions; please try again shortly."


@dataclass(frozen=True)
class Verdict:
    """Whether a question may go ahead and, if not, what to tell the asker ("": nothing)."""

    admitted: bool
    notice: str = ""
    cooling_down: bool = False
    """Refused because the person asked again too soon (not because the bot is busy)."""


def wait_notice(seconds: float) -> str:
    """The cooldown refusal; the wait is rounded up (never "0 s")."""
    return f"Please wait {max(1, math.ceil(seconds))} s before asking again."


class Gate:
    """Per-person cooldown, and a bound on the work waiting to be answered."""

    def __init__(self, max_pending: int, cooldown: float, max_wait: float = math.inf,
                 cost: Callable[[], float] = lambda: 0.0) -> None:
        """Args:
            max_pending: questions in flight at most, whatever the estimate.
            cooldown: seconds a person waits between questions.
            max_wait: say busy when the work ahead of a new question would take longer.
            cost: the current estimate of seconds per question.
        """
        self.max_pending = max_pending
        self.cooldown = cooldown
        self.max_wait = max_wait
        self.cost = cost
        self.pending = 0
        self._last: dict[int, float] = {}
        self._told: dict[int, float] = {}
        """Person -> the start of the cooldown window in which they were told in public."""

    async def through(self, work: Callable[[], Awaitable[T]], *, user_id: int | None,
                      tell: Tell | None = None, public: bool = False,
                      cooldown: bool = True) -> T | None:
        """Run ``work`` if the gate lets it through, counted as pending until it ends;
        None (after telling the refusal, if there is one to tell) when it does not.

        The rules differ by entry point, and are chosen here rather than at each one:

        Args:
            work: what to do once admitted (defer, search, build the reply). Its result
                must not be None, so that None means "refused".
            user_id: who asks; None for background work nobody asked for (auto-annotation),
                which only runs when the bot is not busy and is never told anything.
            tell: how to say no. Commands and buttons are told every time (``privately``).
            public: the refusal goes in the channel (``in_reply``), so a too-fast person is
                told at most once per cooldown window (the cooldown always applies).
            cooldown: False for paging an answer already given (More sources): not a new
                question, so only "busy" applies and no cooldown starts.
        """
        if user_id is None:
            admitted, notice = self.enter(), ""
        else:
            verdict = (self.admit_in_public(user_id) if public
                       else self._check(user_id, cooldown))
            admitted, notice = verdict.admitted, verdict.notice
        if not admitted:
            if notice and tell is not None:
                await tell(notice)
            return None
        try:
            return await work()
        finally:
            self.release()

    def admit(self, user_id: int, *, cooldown: bool = True) -> str | None:
        """None if the question may go ahead (it is counted until ``release``), else the
        refusal to show privately. ``cooldown=False`` (More sources: paging an answer
        already given) checks only whether the bot is busy, and starts no cooldown."""
        verdict = self._check(user_id, cooldown)
        return None if verdict.admitted else verdict.notice

    def admit_in_public(self, user_id: int) -> Verdict:
        """For a question answered in the channel (a mention): like ``admit``, but a
        too-fast person is told at most once per cooldown window; after that the
        verdict's notice is empty and nothing should be sent."""
        verdict = self._check(user_id, True)
        if not verdict.cooling_down:
            return verdict
        window = self._last[user_id]
        if self._told.get(user_id) == window:
            return Verdict(False, "", cooling_down=True)
        self._told[user_id] = window
        return verdict

    def expected_wait(self) -> float:
        """Seconds the work already admitted would keep a new question waiting."""
        return self.pending * self.cost()

    def enter(self) -> bool:
        """Count background work (auto-annotation) if the bot is not busy; it never waits
        its turn."""
        if self._busy():
            return False
        self.pending += 1
        return True

    def release(self) -> None:
        """A question admitted earlier is done."""
        self.pending -= 1

    def _busy(self) -> bool:
        """Too much work waiting: by the plain bound, or by the time it would take (a lone
        question is never refused for its own estimated cost)."""
        return self.pending >= self.max_pending or (
            self.pending > 0 and self.expected_wait() > self.max_wait)

    def _check(self, user_id: int, cooldown: bool) -> Verdict:
        """The verdict, counting the question as pending when it is admitted (the caller
        releases it); the cooldown is checked first, so a too-fast person hears "wait",
        which is about them, rather than "busy"."""
        now = time.monotonic()
        if cooldown:
            wait = self._last.get(user_id, -math.inf) + self.cooldown - now
            if wait > 0:
                return Verdict(False, wait_notice(wait), cooling_down=True)
        if self._busy():
            return Verdict(False, BUSY)
        self.pending += 1
        if cooldown:
            self._last[user_id] = now
            if len(self._last) > 10_000:
                cutoff = now - self.cooldown
                self._last = {u: t for u, t in self._last.items() if t > cutoff}
                self._told = {u: t for u, t in self._told.items() if t > cutoff}
        return Verdict(True)


def privately(interaction: discord.Interaction) -> Tell:
    """Refusals to a slash command, the context menu or a button: an ephemeral response,
    seen only by the person who used it."""

    async def tell(text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True)

    return tell


def in_reply(message: discord.Message) -> Tell:
    """Refusals to a message (a mention, a follow-up, a DM): a reply that pings no one."""

    async def tell(text: str) -> None:
        await message.reply(text, mention_author=False)

    return tell
