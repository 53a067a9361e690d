"""Folding text for the name check and the author rule: the fast path is the definition."""

from __future__ import annotations

import unicodedata

from corpus import BUNDLED_DIR
from index.retrieval.parts import fold


def reference(text: str) -> str:
    """The definition: NFKD of the lowered text, without its combining marks."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


TRICKY = [
    "Quién escribió esto?", "ÀÉÎÕÜ çñ", "plain ASCII, 83 roadblocks.", "",
    "ΟΔΥΣΣΕΥΣ and Σίσυφος",  # Greek final sigma depends on the word's end
    "ﬁnal ﬂight ² ½ Ⅻ ㎏",  # compatibility forms decompose into ASCII
    "e\u0301 a\u0308\u0323 o\u0323\u0302",  # combining marks already apart, out of order
    "“Curly” quotes — and ’apostrophes’…", "Łódź, Ørsted, ß, İstanbul", "日本語 и русский 😀",
]


def test_fold_is_the_nfkd_definition_on_tricky_text() -> None:
    for text in TRICKY:
        assert fold(text) == reference(text), text
    assert fold("Quién ESCRIBIÓ") == "quien escribio"


def test_fold_is_the_definition_on_the_bundled_corpus() -> None:
    texts = [p.read_text(encoding="utf-8") for p in sorted(BUNDLED_DIR.glob("*.md"))]
    assert texts and any(not t.isascii() for t in texts)  # the slow path is exercised
    for text in texts:
        assert fold(text) == reference(text)
