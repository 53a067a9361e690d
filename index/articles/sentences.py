"""Sentence boundaries, found with rules that know about abbreviations and initials.

Passages are cut only between sentences, and the sentence that best answers a
question is highlighted, so both need the same notion of a sentence. A rule-based
splitter is enough for news and comment prose and needs no model download.
"""

from __future__ import annotations

import re

# Words after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt gen col lt sgt capt gov sen rep pres rev hon
    inc ltd co corp dept univ assn bros vs etc al fig figs no nos vol vols pp ed eds
    approx est jan feb mar apr jun jul aug sep sept oct nov dec e.g i.e u.s u.k u.n
    a.m p.m ph.d""".split()  # noqa: SIM905 - one readable block of words
)

_END = re.compile(
    # Punctuation, space, then a capital or digit (optionally after an opening quote) ...
    r"""(?P<stop>[.!?…]+)["'”’)\]]*\s+(?=["“‘'(\[¿¡]?[A-Z0-9À-ÖØ-Þ])"""
    # ... or an unpunctuated line end before a capital (comments without full stops).
    r"""|(?<=[^.!?…:;,\s])[ \t]*\n(?=[“"‘']?[A-Z])"""
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Split ``text`` into sentences.

    Returns:
        (start, end) character spans into ``text``, in order, covering every
        non-blank character; leading and trailing whitespace is excluded.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _END.finditer(text):
        if match.group("stop") and match.group("stop") == "." and _is_abbreviation(text, match):
            continue
        end = match.start() + len(match.group(0).rstrip())
        _add(text, start, end, spans)
        start = match.end()
    _add(text, start, len(text), spans)
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` as strings."""
    return [text[a:b] for a, b in sentence_spans(text)]


def _is_abbreviation(text: str, match: re.Match[str]) -> bool:
    """Whether the full stop at ``match`` closes an abbreviation or an initial."""
    before = text[: match.start()]
    word = re.search(r"([\w.]+)$", before)
    if not word:
        return False
    token = word.group(1).lower()
    if token in _ABBREVIATIONS:
        return True
    # Initials such as "W." or "W.T." are a letter or letter-dot runs.
    return bool(re.fullmatch(r"[^\W\d_](?:\.[^\W\d_])*", token))


def _add(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    chunk = text[start:end]
    if not chunk.strip():
        return
    lead = len(chunk) - len(chunk.lstrip())
    trail = len(chunk) - len(chunk.rstrip())
    spans.append((start + lead, end - trail))
