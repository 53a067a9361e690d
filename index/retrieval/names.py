"""Names the corpus never mentions: the sign of a claim about a neighbouring subject.

A question about another country's protests ("Why did farmers block the
highways in the Netherlands?") or about tourism in Peru ("best time to hike the
Inca Trail?") is close in meaning to the articles, so its best passage can pass
any similarity threshold that still answers real questions (bench/calibrate_abstain.py:
the near-topic claims reach the cosines of answerable ones). What gives it away
is a name the articles never use. A question is declined when one of its names
(a capitalised word not opening a sentence) matches no word of any passage,
title or author, comparing accent-folded, lower-case words and, for words of
five letters or more, their first five letters (so "Mexican" finds "Mexico",
"Universidad" finds "university").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from index.articles.passages import Passage
from index.retrieval.parts import fold

if TYPE_CHECKING:
    from index.retrieval.live import LiveIndex

CAPITALISED_NOUNS = frozenset({"de"})
"""Languages that capitalise every noun, where a capital letter does not mark a name."""

PREFIX = 5
"""Letters compared for longer words: a demonym or a Spanish form still finds its name."""

_NAME = re.compile(r"(?<![\w¿¡])([A-ZÀ-ÖØ-Þ][\w'’-]+)")
_WORD = re.compile(r"\w+")
_OPENERS = ".?!:;"


def words_of(passages: Iterable[Passage]) -> set[str]:
    """The accent-folded, lower-case words of passages' titles, authors and texts: what a
    name is looked up in. Stored with each segment, so a start does not read them again."""
    words: set[str] = set()
    for passage in passages:
        words.update(_WORD.findall(fold(f"{passage.title} {passage.author} {passage.text}")))
    return words


def names_in(question: str) -> list[str]:
    """Capitalised words that do not open a sentence: the question's names."""
    found = []
    for match in _NAME.finditer(question):
        before = question[: match.start()].rstrip(" ¿¡\"'“‘(")
        if before and before[-1] not in _OPENERS:
            found.append(match.group(1))
    return found


class NameCheck:
    """The corpus's words, kept up to date with a live index, and the names it lacks."""

    def __init__(self) -> None:
        self._live: LiveIndex | None = None
        self._seen = 0
        self._words: set[str] = set()
        self._prefixes: set[str] = set()

    def unknown(self, live: LiveIndex, question: str, language: str = "en") -> list[str]:
        """The names in ``question`` (in ``language``) that no passage of ``live`` mentions."""
        if language in CAPITALISED_NOUNS:
            return []
        self.catch_up(live)
        return [name for name in names_in(question) if not self._known(name)]

    def _known(self, name: str) -> bool:
        words = [w for w in _WORD.findall(fold(name)) if len(w) > 1]
        return all(w in self._words or (len(w) >= PREFIX and w[:PREFIX] in self._prefixes)
                   for w in words)

    def catch_up(self, live: LiveIndex) -> None:
        """Take in the words of the passages added to ``live`` since the last call."""
        if live is not self._live:
            self._live, self._seen = live, 0
            self._words, self._prefixes = set(), set()
        # Removed passages keep their words: a name once in the corpus is not
        # evidence of a neighbouring subject, and forgetting would need a count.
        for words in live.words_added[self._seen:]:
            self._words |= words
            self._prefixes |= {w[:PREFIX] for w in words if len(w) >= PREFIX}
        self._seen = len(live.words_added)
