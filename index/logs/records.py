"""What the conversation log holds: one dataclass per kind of row, and their cleaning.

Shared by the recorder (which makes them) and every backend (which stores them),
so a backend never sees a caller's raw input: text is cleaned and cut here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from index.errors import LogStoreError

MODES = ("slash", "mention", "context_menu", "channel", "command_line", "follow_up",
         "annotation", "dm", "source_request")
"""How a question was asked: ``context_menu`` is Find sources, ``source_request`` an
"@citebot source?" in reply to someone's message, ``dm`` a direct message."""
MAX_TEXT = 4000
"""Longer question text is stored cut to this many characters (and marked so)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class CitationRecord:
    """One citation shown with an answer."""

    rank: int
    passage_id: str
    doc_id: str
    score: float


@dataclass(frozen=True)
class QuestionRecord:
    """One question and how it was answered."""

    id: str
    asked_at: str
    text: str
    mode: str
    answered: bool
    latency_ms: float
    guild: str = ""
    channel: str = ""
    thread: str = ""
    user: str = ""
    model: str = ""
    index_version: str = ""
    parent_id: str | None = None
    message_id: str = ""
    citations: tuple[CitationRecord, ...] = ()


@dataclass(frozen=True)
class Feedback:
    """A vote on an answer (a later vote by the same user replaces it)."""

    question_id: str
    user: str
    helpful: bool
    at: str


@dataclass(frozen=True)
class Moderation:
    """A moderation action and its result."""

    at: str
    guild: str
    user: str
    action: str
    target: str
    doc_id: str
    result: str
    detail: str


@dataclass(frozen=True)
class AnswerMessage:
    """The message that delivered a question's answer: marks it answered."""

    question_id: str
    message_id: str


@dataclass
class Stats:
    """What ``citebot logs stats`` and the bot's /stats show."""

    questions: int = 0
    answered: int = 0
    per_day: list[tuple[str, int, int]] = field(default_factory=list)
    """(day, questions, answered)"""
    top_articles: list[tuple[str, int]] = field(default_factory=list)
    helpful: int = 0
    not_helpful: int = 0
    slowest: list[tuple[float, str, str]] = field(default_factory=list)
    """(latency ms, asked at, question)"""
    gaps: list[tuple[str, int]] = field(default_factory=list)
    """The questions most often left unanswered (nothing relevant found), with how often."""
    moderation: int = 0

    @property
    def answered_rate(self) -> float:
        """Share of questions whose citations reached the asker."""
        return self.answered / self.questions if self.questions else 0.0

    @property
    def helpful_ratio(self) -> float | None:
        """Share of votes that said helpful (None without votes)."""
        votes = self.helpful + self.not_helpful
        return self.helpful / votes if votes else None

    def to_json(self) -> dict[str, object]:
        """A JSON-ready summary."""
        return {
            "questions": self.questions,
            "answered": self.answered,
            "answered_rate": round(self.answered_rate, 4),
            "per_day": [{"day": d, "questions": q, "answered": a} for d, q, a in self.per_day],
            "top_articles": [{"doc_id": d, "citations": n} for d, n in self.top_articles],
            "helpful_votes": self.helpful,
            "not_helpful_votes": self.not_helpful,
            "helpful_ratio": None if self.helpful_ratio is None else round(self.helpful_ratio, 4),
            "slowest": [{"latency_ms": round(ms, 1), "asked_at": at, "question": q}
                        for ms, at, q in self.slowest],
            "coverage_gaps": [{"question": q, "times": n} for q, n in self.gaps],
            "moderation_actions": self.moderation,
        }


def utc_now() -> str:
    """The current UTC time as ISO 8601 (what every ``at`` column holds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """Control characters and NULs removed; text over ``limit`` cut and marked."""
    text = _CONTROL.sub("", text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


Record = QuestionRecord | Feedback | Moderation | AnswerMessage
"""What the recorder queues and a backend writes, one transaction per batch."""


def parse_since(value: str) -> str:
    """A ``--since`` date (YYYY-MM-DD or full ISO time) as the ISO string rows compare with.

    Raises:
        LogStoreError: not a date.
    """
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise LogStoreError(
            f"'{value[:40]}' is not a date; use YYYY-MM-DD, e.g. 2026-01-31") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
