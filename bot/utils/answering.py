"""From a question to the ``Reply`` every entry point sends: searched, logged, rendered.

Slash commands, mentions, follow-ups, direct messages, Find sources,
"@citebot source?" and a 📎 all answer through ``Answerer.reply`` (or
``sources_for``, its variant for someone's message), so a question is searched,
logged and shaped the same way wherever it was asked; only how the reply is
sent differs. Searches are batched (``index.retrieval.Batcher``) with the
questions asked at about the same moment, off the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

from index.errors import QuestionError
from index.logs import Recorder, record_answer
from index.retrieval import MAX_QUESTION_CHARS, Answer, Batcher, Engine

from .in_flight import InFlight
from .memory import Asked, Memory
from .render import answer_embed, cut, not_found, question_problem, with_quoted_message
from .views import answer_view

RESTARTING = "I am restarting; please ask again in a minute."


@dataclass(frozen=True)
class Reply:
    """What answering gives, whatever happened: either ``text`` alone (a polite line:
    nothing relevant, a question that cannot be asked, a restart), or the answer as
    ``embed`` with its buttons (``view``) and the question it answers (``asked``), which
    is remembered once the reply is sent (``Answerer.sent``)."""

    text: str = ""
    embed: discord.Embed | None = None
    view: discord.ui.View | None = None
    asked: Asked | None = None


class Answerer:
    """Searches, logs and renders questions for every entry point."""

    def __init__(self, citations: int, batcher: Batcher, engine: Callable[[], Engine],
                 logs: Callable[[], Recorder], memory: Memory, in_flight: InFlight,
                 on_answering: Callable[[], Awaitable[None]] | None = None) -> None:
        """Args:
            citations: citations shown when the asker does not say how many.
            batcher: embeds the questions asked at about the same moment in one call.
            engine, logs: give the engine and log in use now (both open in ``setup_hook``,
                after the answerer is made).
            memory: where answered questions are kept for paging and follow-ups.
            in_flight: counts answers for the shutdown; once it is stopping, questions are
                asked to come back.
            on_answering: awaited before each search (tests hold answers in flight with it).
        """
        self.citations = citations
        self.batcher = batcher
        self._engine = engine
        self._logs = logs
        self.memory = memory
        self.in_flight = in_flight
        self._on_answering = on_answering

    async def search(self, question: str, scope: str, shown: int) -> Answer:
        """Search off the event loop, batched with the questions asked at the same moment;
        ``shown`` citations plus one to know if there are more."""
        return await self.batcher.ask(question, shown + 1, ("", scope))

    async def reply(
        self, question: str, scope: str, *, mode: str, user_id: int, channel_id: int | None,
        thread_id: int | None = None, parent_id: str | None = None, count: int | None = None,
        heading: str = "Sources",
    ) -> Reply:
        """Search, log, and build the reply: an embed with its buttons, or a polite text
        (nothing relevant, or a question that cannot be asked) to send instead.

        The question is logged as not answered (with the citations found) until the reply
        is delivered: ``sent`` with the message id marks it answered, so an answer that is
        never sent (a failed send, a crash, a shutdown that ran out of time) never counts.
        """
        self.in_flight.track_current_task()
        if self.in_flight.stopping.is_set():
            return Reply(RESTARTING)
        if self._on_answering is not None:
            await self._on_answering()
        shown = count or self.citations
        started = time.perf_counter()
        try:
            answer = await self.search(question, scope, shown)
        except QuestionError as exc:
            return Reply(question_problem(exc))
        latency = (time.perf_counter() - started) * 1000
        citations = list(answer.results[:shown])
        engine = self._engine()
        shown_answer = Answer(answer.question, False, tuple(citations))
        question_id = record_answer(
            self._logs(), shown_answer, latency, mode, model=engine.embedder.name,
            index_version=engine.index_version, guild=scope, channel=str(channel_id or ""),
            thread=str(thread_id or ""), user=str(user_id), parent_id=parent_id)
        asked = Asked(question_id, answer.question, scope)
        self.memory.remember(asked)
        if not answer.answered:
            return Reply(not_found(answer))
        embed = answer_embed(answer.question, answer, citations, heading=heading)
        more = 1 if len(answer.results) > shown else None
        return Reply(embed=embed, view=answer_view(question_id, more), asked=asked)

    async def sources_for(self, text: str, author: str, scope: str, *, mode: str,
                          user_id: int, channel_id: int | None,
                          thread_id: int | None = None) -> Reply:
        """Sources behind someone's message (Find sources, "@citebot source?", a 📎): the
        answer headed "Sources for a message", with the message and its author quoted on
        top, so readers see what is being sourced."""
        reply = await self.reply(cut(text, MAX_QUESTION_CHARS), scope, mode=mode,
                                 user_id=user_id, channel_id=channel_id, thread_id=thread_id,
                                 heading="Sources for a message")
        if reply.embed is not None:
            with_quoted_message(reply.embed, text, author)
        return reply

    def sent(self, reply: Reply, message_id: int) -> None:
        """``reply`` went out as message ``message_id``: remember it for follow-ups, and
        mark its question answered in the log."""
        if reply.asked is not None:
            self.memory.remember(reply.asked, message_id)
