"""Cleaning a question before it is searched, and the limits that apply to it."""

from __future__ import annotations

import unicodedata

from index.errors import EmptyQuestionError, QuestionTooLongError

MAX_QUESTION_CHARS = 1000
# Control, format, surrogate and private-use characters: never part of a question.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co"})


def clean_question(raw: str) -> str:
    """Normalise a question: NFC, control and format characters to spaces, collapsed.

    Raises:
        QuestionError: the question is empty after cleaning, or too long.
    """
    text = unicodedata.normalize("NFC", raw)
    text = "".join(" " if unicodedata.category(ch) in _INVISIBLE else ch for ch in text)
    text = " ".join(text.split())
    if not text:
        raise EmptyQuestionError(
            'the question is empty: ask something, e.g. "Why are people protesting in Peru?"'
        )
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionTooLongError(
            f"the question is {len(text):,} characters long; please ask in at most "
            f"{MAX_QUESTION_CHARS:,} characters"
        )
    return text
