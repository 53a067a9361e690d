"""Corpus files: one Markdown file per article, with front matter and reader comments.

The format is meant to be written by hand by a moderator::

    ---
    title: "Rural-Based Popular Resistance Confounds Peru's Post-Coup Government"
    author: W.T. Whitney Jr.
    date: 2023-03
    source: news article
    url: ""
    ---

    First paragraph of the article.

    Second paragraph; lines may be hard-wrapped,
    a paragraph is a run of lines between blank lines.

    ## Comment 1
    author: Cassiodorus
    votes: 6

    The reader's comment, in paragraphs like the article.

Everything before the first ``## Comment`` heading is the article. A comment
heading is followed by ``key: value`` lines (author, votes, signature) up to the
first blank line, then the comment's text. The file's wording is kept exactly;
offsets recorded for passages point into the file's text.

Parts that are not what the article or comment says are marked, so they are
ranked as what they are. An ``## About the author`` heading (case ignored, also
``## About the authors``) ends the content of the article, or of the comment it
appears in; the paragraphs after it, up to the next ``## Comment`` heading, are
the author's bio (``Paragraph.part == BIO``)::

    Last paragraph of the article.

    ## About the author

    W.T. Whitney Jr. is a political journalist ...

A bio is cited only for a question about its author (see ``index.retrieval.parts``). A
comment's signature stays header metadata and is never indexed. The heading is
not a paragraph; bio paragraphs are numbered on from the content's.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from index.errors import CorpusError

ARTICLE = "article"
COMMENT = "comment"
CONTENT = "content"
"""A paragraph of what the article or comment says."""
BIO = "bio"
"""A paragraph of an author bio (after an ``## About the author`` heading)."""

_FRONT_KEYS = {"title", "author", "date", "source", "url", "votes"}
_COMMENT_KEYS = {"author", "votes", "signature"}
_COMMENT_HEADING = re.compile(r"^## Comment\b[^\n]*$", re.MULTILINE)
BIO_HEADING = "## About the author"
_BIO_HEADING = re.compile(r"^## About the authors?[ \t]*$", re.MULTILINE | re.IGNORECASE)
_DOC_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Paragraph:
    """A run of non-blank lines: its number within its section and where it sits in the file."""

    number: int
    start: int
    end: int
    text: str
    part: str = CONTENT


@dataclass(frozen=True)
class Section:
    """The article body or one reader comment."""

    kind: str
    number: int
    author: str
    votes: int | None
    paragraphs: tuple[Paragraph, ...]
    signature: str = ""


@dataclass(frozen=True)
class Document:
    """One corpus file: its metadata and its sections, the article first."""

    doc_id: str
    title: str
    author: str
    date: str
    source: str
    url: str
    votes: int | None
    sections: tuple[Section, ...]
    text: str
    path: Path | None = None
    scope: str = ""

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the text, computed once: index updates compare documents by it."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def parse_document(text: str, doc_id: str, path: Path | None = None, scope: str = "") -> Document:
    """Parse the text of a corpus file.

    Raises:
        CorpusError: the front matter is missing or malformed, or a comment
            header holds an unknown key or a bad vote count.
    """
    where = str(path) if path else doc_id
    if not _DOC_ID.match(doc_id):
        raise CorpusError(
            f"{where}: '{doc_id}' is not a usable document id; name the file with lower-case "
            "letters, digits, '-', '_' or '.'"
        )
    meta, body_start = _front_matter(text, where)
    title = _text_field(meta, "title", where)
    if not title:
        raise CorpusError(f"{where}: the front matter needs a non-empty 'title'")
    headings = list(_COMMENT_HEADING.finditer(text, body_start))
    article_end = headings[0].start() if headings else len(text)
    sections = [
        Section(
            kind=ARTICLE,
            number=0,
            author=_text_field(meta, "author", where),
            votes=_votes(meta.get("votes"), where),
            paragraphs=tuple(_section_paragraphs(text, body_start, article_end)),
        )
    ]
    for number, heading in enumerate(headings, start=1):
        end = headings[number].start() if number < len(headings) else len(text)
        sections.append(_comment(text, heading.end(), end, number, where))
    return Document(
        doc_id=doc_id,
        title=title,
        author=_text_field(meta, "author", where),
        date=_text_field(meta, "date", where),
        source=_text_field(meta, "source", where),
        url=_text_field(meta, "url", where),
        votes=_votes(meta.get("votes"), where),
        sections=tuple(sections),
        text=text,
        path=path,
        scope=scope,
    )


def load_document(path: Path, scope: str = "") -> Document:
    """Read and parse one corpus file; its id is the file name without ``.md``.

    Raises:
        CorpusError: the file cannot be read, is not UTF-8, or is malformed.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read corpus file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorpusError(f"corpus file {path} is not UTF-8 text; save it as UTF-8") from None
    return parse_document(text.replace("\r\n", "\n"), path.stem.lower(), path, scope)


def load_corpus(
    dirs: list[Path], scope: str = "", load: Callable[[Path, str], Document] = load_document
) -> list[Document]:
    """Load every ``*.md`` corpus file (README.md excepted) from the given folders.

    ``load`` reads one file; the library passes a cached reader so that an add
    does not parse the whole corpus again.

    Raises:
        CorpusError: a folder is missing, a file is malformed, or two files
            share a document id.
    """
    documents: dict[str, Document] = {}
    for folder in dirs:
        if not folder.is_dir():
            raise CorpusError(f"corpus folder {folder} does not exist; check corpus.dirs")
        # os.scandir: pathlib's glob costs ~0.1 ms a file, which adds up at 5,000 articles.
        # Anything named *.md is read, so a folder or broken link by that name is
        # reported rather than silently skipped.
        names = sorted(e.name for e in os.scandir(folder)
                       if e.name.endswith(".md") and not e.name.startswith("."))
        for path in (folder / name for name in names):
            if path.name.lower() == "readme.md":
                continue
            doc = load(path, scope)
            if doc.doc_id in documents:
                raise CorpusError(
                    f"{path}: document id '{doc.doc_id}' is also used by "
                    f"{documents[doc.doc_id].path}; rename one of the files"
                )
            documents[doc.doc_id] = doc
    return list(documents.values())


def render_document(
    *,
    title: str,
    author: str = "",
    date: str = "",
    source: str = "",
    url: str = "",
    votes: int | None = None,
    body: str,
    comments: list[dict[str, object]] | None = None,
) -> str:
    """Write an article (and its comments) in the corpus format, wording unchanged.

    Each comment is a dict with ``text`` and optionally ``author``, ``votes``
    and ``signature``.
    """
    meta: dict[str, object] = {"title": title, "author": author, "date": date}
    meta.update({"source": source, "url": url})
    if votes is not None:
        meta["votes"] = votes
    head = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=10_000)
    parts = [f"---\n{head}---\n\n{body.strip(chr(10))}\n"]
    for number, comment in enumerate(comments or [], start=1):
        lines = [f"## Comment {number}"]
        for key in ("author", "votes", "signature"):
            value = comment.get(key)
            if value not in (None, ""):
                dumped = yaml.safe_dump({key: value}, allow_unicode=True, width=10_000)
                lines.append(dumped.strip())
        text = str(comment.get("text", "")).strip("\n")
        parts.append("\n".join(lines) + ("\n\n" + text if text else "") + "\n")
    return "\n".join(parts)


def _front_matter(text: str, where: str) -> tuple[dict[str, object], int]:
    if not text.startswith("---\n"):
        raise CorpusError(f"{where}: a corpus file must start with a '---' front matter block")
    close = text.find("\n---\n", 3)
    if close < 0:
        close = text.find("\n---", 3)
        if close < 0 or text[close + 4 :].strip():
            raise CorpusError(f"{where}: the front matter block is not closed with '---'")
    try:
        meta = yaml.safe_load(text[4:close]) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 2})" if mark is not None else ""
        raise CorpusError(f"{where}: malformed front matter{line}: {exc}") from None
    if not isinstance(meta, dict):
        raise CorpusError(f"{where}: the front matter must be 'key: value' lines")
    unknown = sorted(set(map(str, meta)) - _FRONT_KEYS)
    if unknown:
        raise CorpusError(
            f"{where}: unknown front matter key '{unknown[0]}' "
            f"(known: {', '.join(sorted(_FRONT_KEYS))})"
        )
    return meta, min(close + 5, len(text))


def _comment(text: str, start: int, end: int, number: int, where: str) -> Section:
    """Parse one comment: its header lines up to the first blank line, then paragraphs."""
    pos = start + 1 if text.startswith("\n", start) else start
    meta: dict[str, object] = {}
    while pos < end:
        line_end = text.find("\n", pos, end)
        line_end = end if line_end < 0 else line_end
        line = text[pos:line_end]
        if not line.strip():
            break
        try:
            item = yaml.safe_load(line)
        except yaml.YAMLError:
            item = None
        if not isinstance(item, dict) or len(item) != 1:
            raise CorpusError(
                f"{where}: comment {number}: expected 'key: value' header lines, then a "
                f"blank line before the text; got {line[:60]!r}"
            )
        key = str(next(iter(item)))
        if key not in _COMMENT_KEYS:
            raise CorpusError(
                f"{where}: comment {number}: unknown key '{key}' "
                f"(known: {', '.join(sorted(_COMMENT_KEYS))})"
            )
        meta.update(item)
        pos = line_end + 1
    return Section(
        kind=COMMENT,
        number=number,
        author=_text_field(meta, "author", where),
        votes=_votes(meta.get("votes"), where),
        paragraphs=tuple(_section_paragraphs(text, min(pos, end), end)),
        signature=_text_field(meta, "signature", where),
    )


def _section_paragraphs(text: str, start: int, end: int) -> list[Paragraph]:
    """A section's paragraphs: content, then (after an ``## About the author`` heading) bio."""
    headings = list(_BIO_HEADING.finditer(text, start, end))
    if not headings:
        return _paragraphs(text, start, end)
    found = _paragraphs(text, start, headings[0].start())
    # A further bio heading (a second author's bio) only separates bio paragraphs.
    for i, heading in enumerate(headings):
        stop = headings[i + 1].start() if i + 1 < len(headings) else end
        found.extend(_paragraphs(text, heading.end(), stop, BIO, first=len(found) + 1))
    return found


def _paragraphs(
    text: str, start: int, end: int, part: str = CONTENT, first: int = 1
) -> list[Paragraph]:
    """Runs of non-blank lines between ``start`` and ``end``, numbered from ``first``."""
    found: list[Paragraph] = []
    for match in re.finditer(r"[^\n]*\S[^\n]*(?:\n[^\n]*\S[^\n]*)*", text[start:end]):
        raw = match.group(0)
        lead = len(raw) - len(raw.lstrip())
        trail = len(raw) - len(raw.rstrip())
        p_start = start + match.start() + lead
        p_end = start + match.end() - trail
        found.append(Paragraph(first + len(found), p_start, p_end,
                               " ".join(text[p_start:p_end].split()), part))
    return found


def _text_field(meta: dict[str, object], key: str, where: str) -> str:
    value = meta.get(key)
    if value is None:
        return ""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value).strip()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise CorpusError(f"{where}: '{key}' must be text, not {type(value).__name__}")


def _votes(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise CorpusError(f"{where}: 'votes' must be a whole number, not {value!r}")
