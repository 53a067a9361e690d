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

A question in another language may name in its own language what the articles
name in English ("Naciones Unidas", "Corte Suprema", "ONG"). Words cannot
match there, so the searcher asks the multilingual model instead: a name is
known when it translates one of the names (``name_phrases``) of the passages
nearest the question, at a cosine of at least ``TRANSLATED`` (see
``Searcher._untranslated``).
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

TRANSLATED = 0.7
"""The multilingual cosine at which a name counts as the translation of a passage's name.

Chosen on the calibration sets (bench/data/calibration_questions_es.jsonl and the
calibration half of near_topic_es.jsonl): translations scored 0.74-0.97 ("ONG" /
"NGO" 0.74, "Corte" / "Court" 0.78, "Comité" / "Committee" 0.97), the best match
of a name the articles do not have at most 0.62 ("Machu" / "Apurímac"), except
"Inca" / "Ica" (0.80, a question declined for its other names anyway). Any value
from 0.63 to 0.74 separates them alike; 0.7 leaves room on both sides."""

NAME_PASSAGES = 10
"""How many of the passages nearest a question in another language its names are looked
up in, by translation: the prototype on the calibration sets looked in 10."""

LONGEST_PHRASE = 3
"""Words in the longest run of a passage's names that is compared whole ("Supreme Court")."""

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


def name_phrases(text: str) -> set[str]:
    """The names of a text, alone and in runs of up to ``LONGEST_PHRASE`` consecutive
    capitalised words ("UN", "Human Rights", "UN High Commissioner"): what a name in
    another language may translate. A word that only opens a sentence is left out."""
    phrases: set[str] = set()
    run: list[str] = []
    end = -1
    for match in _NAME.finditer(text):
        before = text[: match.start()].rstrip(" ¿¡\"'“‘(")
        if not before or before[-1] in _OPENERS + "·•–—":
            run, end = [], -1  # "The" opening a sentence or a list item is not a name
            continue
        if text[end : match.start()].strip():
            run = []  # something other than spaces since the last name: a new run
        run.append(match.group(1).rstrip(".’'-"))
        end = match.end()
        for n in range(1, min(len(run), LONGEST_PHRASE) + 1):
            phrases.add(" ".join(run[-n:]))
    return phrases


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
