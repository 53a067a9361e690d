"""What the two SQL backends (``sqlite``, ``postgres``) share besides their dialects: the
report filters and how a question's row becomes the record ``questions()`` yields, so
both give the same keys and types for the same rows."""

from __future__ import annotations

from collections.abc import Sequence

QUESTION_FIELDS = ("id", "asked_at", "guild", "channel", "thread", "user", "text", "mode",
                   "answered", "latency_ms", "model", "index_version", "parent_id",
                   "message_id", "helpful_votes", "not_helpful_votes")
"""A question row's first columns, in the order both backends select them."""


def question_record(row: Sequence[object], citations: list[dict[str, object]]
                    ) -> dict[str, object]:
    """A question row (``QUESTION_FIELDS``, then anything) with its citations, as exported."""
    record = dict(zip(QUESTION_FIELDS, row[: len(QUESTION_FIELDS)], strict=True))
    record["answered"] = bool(record["answered"])
    record["citations"] = citations
    return record


def filters(since: str, guild: str, time_column: str, guild_column: str
            ) -> list[tuple[str, object | None]]:
    """The report filters as (condition, argument) pairs; ``?`` marks the argument."""
    conditions: list[tuple[str, object | None]] = []
    if since:
        conditions.append((f"{time_column} >= ?", since))
    if guild:
        conditions.append((f"{guild_column} = ?", guild))
    return conditions
