"""Recognising "@citebot source?": a reply that asks for the sources behind someone's message.

When the bot is mentioned in a reply to another person's message and the rest of the
text is empty or one of the phrases below, the bot looks up sources for the message
replied to, as Find sources does. Anything else in such a reply is an ordinary
question. Case, spacing and punctuation (¿? ¡! . , …) do not matter, and a trailing
"please" or "por favor" is ignored.
"""

from __future__ import annotations

import re

SOURCE_REQUESTS = frozenset({
    # English
    "source", "sources", "source pls", "sources pls", "any source", "any sources",
    "got a source", "what is the source", "citation", "citations",
    "citation needed", "cite", "cite it", "proof", "evidence", "fact check", "is this true",
    "is that true", "is it true", "true",
    # Spanish
    "fuente", "fuentes", "la fuente", "cuál es la fuente", "cita", "es verdad", "es cierto",
    "eso es verdad", "eso es cierto", "pruebas",
})
"""Requests for sources, normalised (lower case, no punctuation, single spaces)."""

_PUNCTUATION = re.compile(r"[¿?¡!.,;:…\"'“”«»()]+")
_POLITE = re.compile(r"^(?:please|por favor)\s+|\s+(?:please|pls|por favor)$")


def normalise(text: str) -> str:
    """Lower case, without punctuation or a courtesy word ("what's" reads "what is")."""
    text = text.lower().replace("’", "'").replace("what's", "what is")
    text = " ".join(_PUNCTUATION.sub(" ", text).split())
    return _POLITE.sub("", text).strip()


def is_source_request(text: str) -> bool:
    """True when ``text`` (the message without the bot's mention) asks for sources."""
    return not text.strip() or normalise(text) in SOURCE_REQUESTS
