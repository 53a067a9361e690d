"""What the bot remembers of the questions it answered, and how a message follows one up.

An answer's buttons page it (More sources) and a reply to it, or a message in a
thread started from it, is a follow-up asked together with the first question.
Both need the question behind a message: kept here in memory (bounded), and
read back from the log after a restart, so old buttons and threads keep working.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import discord

from index.logs import Recorder

LIMIT = 5000
"""Questions (and answer messages) kept in memory; older ones are read from the log."""


@dataclass(frozen=True)
class Asked:
    """What the bot remembers of an answered question, to page it or follow it up."""

    question_id: str
    text: str
    scope: str


class Memory:
    """Questions answered lately, and the messages that carried their answers."""

    def __init__(self, logs: Callable[[], Recorder], limit: int = LIMIT) -> None:
        """``logs`` gives the log in use now: it is opened once the bot starts, and
        replaced by one that records nothing when the bot closes."""
        self._logs = logs
        self.limit = limit
        self.asked: OrderedDict[str, Asked] = OrderedDict()
        """Question id -> the question."""
        self.answers: OrderedDict[int, str] = OrderedDict()
        """Answer message id -> question id, for follow-ups (the log keeps it across restarts)."""

    def remember(self, asked: Asked, message_id: int | None = None) -> None:
        """Keep a question (and the message that answered it) for paging and follow-ups.

        With ``message_id`` (the answer was sent) the log marks the question answered."""
        self.asked[asked.question_id] = asked
        while len(self.asked) > self.limit:
            self.asked.popitem(last=False)
        if message_id is not None:
            self.answers[message_id] = asked.question_id
            while len(self.answers) > self.limit:
                self.answers.popitem(last=False)
            self._logs().answer_message(asked.question_id, str(message_id))

    async def recall(self, question_id: str = "", message_id: int | None = None) -> Asked | None:
        """A question answered earlier, from memory or (after a restart) from the log."""
        logs = self._logs()
        if message_id is not None and not question_id:
            question_id = self.answers.get(message_id, "")
            if not question_id:
                found = await logs.lookup(message_id=str(message_id))
                return Asked(found["id"], found["text"], found["guild"]) if found else None
        if question_id in self.asked:
            return self.asked[question_id]
        found = await logs.lookup(question_id=question_id)
        return Asked(found["id"], found["text"], found["guild"]) if found else None

    async def followed_up(self, message: discord.Message,
                          me: discord.abc.User | None) -> Asked | None:
        """The earlier question ``message`` follows up: a reply to one of the bot's (``me``)
        answers, or a message in a thread started from one. None otherwise: a reply to
        someone else's message is not a follow-up, whatever thread it is in."""
        reference = message.reference
        if reference is not None and reference.message_id is not None:
            resolved = reference.resolved
            if isinstance(resolved, discord.Message) and me and resolved.author.id != me.id:
                return None
            return await self.recall(message_id=reference.message_id)
        if isinstance(message.channel, discord.Thread):
            return await self.recall(message_id=message.channel.id)
        return None
