"""Marked parts (author bios) and when they may be cited.

A bio says who wrote an article, not what it says. Left among the candidates,
it wins questions it does not answer: the model maps text in one language
close together, so a Spanish question about the protests met the Spanish half
of an English article's bio first (issue 11). A bio is therefore a candidate
only for a question about its author: one that names the author, or asks who
wrote the article or about its author. For any other question it is left out
altogether rather than down-weighted: a down-weighted bio would still be cited
when nothing else clears the abstain threshold, which is exactly the false
answer to an unrelated Spanish question.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # live imports the name check, which folds words with this module
    from index.retrieval.live import LiveIndex

_ASKS_ABOUT_AUTHOR = re.compile(
    r"\b(authors?|autor(a|es)?|writers?|escritor(a|es)?|wrote|written by|escribio|"
    r"escrito por|biography|biografia|bio|byline)\b"
)
"""Words of a question about who wrote something (accents folded, lower case)."""

_NOT_NAMES = frozenset({"jr", "sr", "iii", "the", "and", "von", "van", "del", "los", "las"})


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def fold(text: str) -> str:
    """Lower case without accents, so "Quién escribió" matches "quien escribio".

    The compatibility decomposition (NFKD) and the removal of combining marks only
    touch non-ASCII characters (decomposition is per character, and reordering moves
    only the combining marks that are removed), so only the non-ASCII runs of the
    lowered text go through them: at start-up the name check folds every passage,
    and per character this was 4 of the 27 s that 100,000 passages took to load.
    """
    lowered = text.lower()
    if lowered.isascii():
        return lowered
    return _NON_ASCII.sub(_strip_marks, lowered)


def _strip_marks(run: re.Match[str]) -> str:
    decomposed = unicodedata.normalize("NFKD", run.group())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_words(author: str) -> set[str]:
    """The words of an author's name a question may use: "W.T. Whitney Jr." gives {"whitney"}."""
    return {w for w in re.findall(r"\w+", fold(author)) if len(w) >= 3 and w not in _NOT_NAMES}


def asks_about_authors(question: str) -> bool:
    """Whether a question asks who wrote something or about an author, naming nobody."""
    return bool(_ASKS_ABOUT_AUTHOR.search(fold(question)))


class PartFilter:
    """Which positions of a live index a question may cite, as far as marked parts go.

    Positions are only ever appended to a live index (a remove marks a row
    dead, a compaction makes a new index), so what is known about the rows
    seen so far stays true and only new rows are read. Not thread-safe: the
    searcher is used by one thread at a time.
    """

    def __init__(self) -> None:
        self._live: LiveIndex | None = None
        self._bio = np.zeros(0, dtype=bool)
        self._by_name: dict[str, list[int]] = {}

    def admitted(self, live: LiveIndex, question: str) -> np.ndarray:
        """A mask of the positions the question may cite: all but the bios not about it."""
        self._catch_up(live)
        if not self._bio.any() or asks_about_authors(question):
            return np.ones(len(self._bio), dtype=bool)
        mask = ~self._bio
        for word in set(re.findall(r"\w+", fold(question))) & self._by_name.keys():
            mask[self._by_name[word]] = True
        return mask

    def _catch_up(self, live: LiveIndex) -> None:
        if live is not self._live:
            self._live, self._bio, self._by_name = live, np.zeros(0, dtype=bool), {}
        known = len(self._bio)
        fresh = live.bio.values[known:]
        if not len(fresh):
            return
        self._bio = np.concatenate([self._bio, fresh])
        # Only the bios themselves are read (for their authors' names).
        for position in (np.flatnonzero(fresh) + known).tolist():
            for word in name_words(live.passages[position].author):
                self._by_name.setdefault(word, []).append(position)
