"""Passages: the units that are embedded, searched and cited.

A passage is a paragraph, or for a paragraph too long for the model, a run of
whole sentences. Cuts fall only between sentences; consecutive windows of one
paragraph share a sentence so no statement loses its context. A single sentence
longer than the model can read is the one case that must be cut inside; it is
split at word boundaries and logged, never silently truncated by the model.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from index.articles.documents import ARTICLE, BIO, CONTENT, Document, Paragraph, Section
from index.articles.sentences import sentence_spans

log = logging.getLogger(__name__)

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Passage:
    """A citable span of a document, with everything a citation needs."""

    passage_id: str
    doc_id: str
    title: str
    author: str
    kind: str
    comment: int
    paragraph: int
    start: int
    end: int
    text: str
    url: str = ""
    scope: str = ""
    sentences: tuple[tuple[int, int], ...] = ()
    part: str = CONTENT
    """``content``, or ``bio`` for an author bio (cited only for questions about its author)."""

    def sentence_texts(self) -> list[str]:
        """The passage's sentences, each embedded on its own for sentence-level scores."""
        return [self.text[a:b] for a, b in self.sentences]

    def embed_text(self, with_title: bool) -> str:
        """What the model reads for this passage: optionally the title, then the text."""
        return embedded_text(self.title, self.text, with_title)

    def citation_label(self) -> str:
        """Who said it and where: "gjohnsit · article, paragraph 3" or a reader comment's.

        A bio says so ("about the author"): readers must not take it for the
        article's content, and keyword search matches questions about authors.
        """
        where = f"paragraph {self.paragraph}" if self.part != BIO else "about the author"
        if self.kind == "comment":
            who = f"by {self.author}" if self.author else "(author unknown)"
            return f"reader comment {self.comment} {who}, {where}"
        who = f"{self.author} · " if self.author else ""
        return f"{who}article, {where}"

    def to_record(self) -> dict[str, object]:
        """A JSON-ready dict, for the passage store."""
        record = dict(self.__dict__)
        record["sentences"] = [list(span) for span in self.sentences]
        return record

    @classmethod
    def from_record(cls, record: dict[str, object]) -> Passage:
        """The inverse of ``to_record``."""
        fields = dict(record)
        fields["sentences"] = tuple(tuple(span) for span in fields.get("sentences", ()))  # type: ignore[union-attr]
        return cls(**fields)  # type: ignore[arg-type]


def embedded_text(title: str, text: str, with_title: bool) -> str:
    """The one place that decides what the model reads for a passage."""
    return f"{title}\n{text}" if with_title else text


def passage_id(doc_id: str, embedded: str, occurrence: int = 0, part: str = CONTENT) -> str:
    """A stable id from the document and exactly what is embedded (and the repeat count).

    What is embedded (the text, with the title when titles are embedded) is in
    the id, so anything that changes the vector changes the id. A marked part
    (a bio) is in it too: an update keeps an indexed passage whose id is
    unchanged, so marking or unmarking a paragraph must change its id. Content
    passages keep the ids they always had.
    """
    key = f"{doc_id}\x1f{embedded}\x1f{occurrence}"
    if part != CONTENT:
        key += f"\x1f{part}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    return digest[:16]


def split_document(
    doc: Document,
    count_tokens: TokenCounter,
    max_tokens: int,
    model_limit: int,
    with_title: bool,
) -> list[Passage]:
    """Cut a document into passages that fit the model.

    Args:
        doc: the parsed corpus file.
        count_tokens: counts the model's word pieces in a text (without the
            special tokens the model adds).
        max_tokens: the target passage size in word pieces.
        model_limit: the most word pieces the model reads, special tokens
            excluded; nothing longer is ever produced.
        with_title: whether the title is embedded with each passage (and so
            counts against the budget).
    """
    title_cost = count_tokens(doc.title) + 1 if with_title else 0
    budget = max(8, min(max_tokens, model_limit) - title_cost)
    hard_limit = max(8, model_limit - title_cost)
    passages: list[Passage] = []
    seen: dict[str, int] = {}
    for section in doc.sections:
        for paragraph in section.paragraphs:
            for start, end in _windows(doc.text, paragraph, count_tokens, budget, hard_limit):
                text = " ".join(doc.text[start:end].split())
                occurrence = seen.get(text, 0)
                seen[text] = occurrence + 1
                embedded = embedded_text(doc.title, text, with_title)
                ident = passage_id(doc.doc_id, embedded, occurrence, paragraph.part)
                passages.append(_passage(doc, section, paragraph, start, end, text, ident))
    return passages


def split_corpus(
    docs: Iterable[Document],
    count_tokens: TokenCounter,
    max_tokens: int,
    model_limit: int,
    with_title: bool,
) -> list[Passage]:
    """``split_document`` over many documents, in order."""
    out: list[Passage] = []
    for doc in docs:
        out.extend(split_document(doc, count_tokens, max_tokens, model_limit, with_title))
    return out


def _passage(
    doc: Document,
    section: Section,
    paragraph: Paragraph,
    start: int,
    end: int,
    text: str,
    ident: str,
) -> Passage:
    return Passage(
        passage_id=ident,
        doc_id=doc.doc_id,
        title=doc.title,
        author=section.author if section.kind != ARTICLE else doc.author,
        kind=section.kind,
        comment=section.number,
        paragraph=paragraph.number,
        start=start,
        end=end,
        text=text,
        url=doc.url,
        scope=doc.scope,
        sentences=tuple(sentence_spans(text)),
        part=paragraph.part,
    )


def _windows(
    text: str,
    paragraph: Paragraph,
    count_tokens: TokenCounter,
    budget: int,
    hard_limit: int,
) -> list[tuple[int, int]]:
    """Character spans (into the file) of the passages of one paragraph."""
    if count_tokens(paragraph.text) <= budget:
        return [(paragraph.start, paragraph.end)]
    base = paragraph.start
    units: list[tuple[int, int, int]] = []
    for s, e in sentence_spans(text[paragraph.start : paragraph.end]):
        cost = count_tokens(text[base + s : base + e])
        if cost <= hard_limit:
            units.append((base + s, base + e, cost))
        else:
            units.extend(_split_long_sentence(text, base + s, base + e, count_tokens, hard_limit))
    windows: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + units[j][2] <= budget):
            total += units[j][2]
            j += 1
        windows.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        # Start the next window on the last sentence of this one, unless that
        # sentence alone filled the window (then there is nothing to share).
        i = j - 1 if j - 1 > i else j
    return windows


def _split_long_sentence(
    text: str, start: int, end: int, count_tokens: TokenCounter, limit: int
) -> list[tuple[int, int, int]]:
    """Cut one over-long sentence at word boundaries into pieces the model can read."""
    log.warning(
        "a sentence of %d characters is longer than the model reads; it is split at "
        "word boundaries into several passages",
        end - start,
    )
    pieces: list[tuple[int, int, int]] = []
    words = [(m.start() + start, m.end() + start) for m in _word_iter(text[start:end])]
    i = 0
    while i < len(words):
        lo, hi = i + 1, len(words)
        # Binary search for the longest run of words that fits.
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count_tokens(text[words[i][0] : words[mid - 1][1]]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        j = max(lo, i + 1)
        piece = (words[i][0], words[j - 1][1])
        pieces.append((*piece, count_tokens(text[piece[0] : piece[1]])))
        i = j
    return pieces


def _word_iter(text: str) -> Iterable[re.Match[str]]:
    return re.finditer(r"\S+", text)
