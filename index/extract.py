"""Turning a web page, a file or pasted text into an article: metadata, paragraphs, comments.

Web pages go through trafilatura, which keeps the main text and drops
navigation, ads, footers and cookie banners, and reads title, author, date and
canonical URL. Reader comments are read separately (trafilatura gives their text
but not who wrote each), from the usual comment markup: an element whose class
includes ``comment``, its author in ``fn``/``author``/``username``/``cite``, its
text in ``comment-content``/``comment-body`` or its paragraphs.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .documents import load_document
from .errors import CitebotError

log = logging.getLogger(__name__)

MIN_CHARACTERS = 200


class ExtractError(CitebotError):
    """Nothing usable could be read from the source."""


@dataclass(frozen=True)
class Comment:
    """One reader comment."""

    author: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Article:
    """What ingestion produces before the article is stored in the corpus format."""

    title: str
    paragraphs: tuple[str, ...]
    author: str = ""
    date: str = ""
    url: str = ""
    source: str = ""
    comments: tuple[Comment, ...] = field(default_factory=tuple)

    def body(self) -> str:
        """The paragraphs as corpus-file text, one blank line between them."""
        return "\n\n".join(self.paragraphs)

    def text_size(self) -> int:
        """Characters of article text (comments excluded)."""
        return sum(len(p) for p in self.paragraphs)


def clean_text(text: str) -> str:
    """Drop NULs and control characters (newlines and tabs kept), normalise to NFC."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "".join(
        ch for ch in text
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co")
    )


def decode_text(data: bytes, where: str) -> str:
    """Decode UTF-8 text, refusing binary data and other encodings with a clear message."""
    if b"\x00" in data[:8192]:
        raise ExtractError(f"{where} looks like binary data, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExtractError(
            f"{where} is not UTF-8 text; convert it (e.g. iconv -t UTF-8) and add it again"
        ) from None


def from_html(html: bytes | str, url: str = "", where: str = "the page") -> Article:
    """Extract the main text, metadata and reader comments of an HTML page."""
    import trafilatura
    from lxml import html as lxml_html

    doc = trafilatura.bare_extraction(
        html, url=url or None, with_metadata=True, include_comments=False,
        include_tables=False, favor_precision=True,
    )
    if doc is None or not (doc.text or "").strip():
        raise ExtractError(f"no article text could be found in {where}")
    title = clean_text(doc.title or "").strip()
    lines = [clean_text(line).strip() for line in (doc.text or "").split("\n")]
    paragraphs = [line for line in lines if line]
    if paragraphs and title and paragraphs[0] == title:
        paragraphs = paragraphs[1:]
    try:
        tree = lxml_html.fromstring(html)
        comments = tuple(_comments(tree))
    except (ValueError, TypeError) as exc:  # lxml refuses some malformed documents
        log.warning("could not read comments from %s: %s", where, exc)
        comments = ()
    return Article(
        title=title,
        paragraphs=tuple(paragraphs),
        author=clean_text(doc.author or "").strip(),
        date=(doc.date or "").strip(),
        url=(doc.url or url or "").strip(),
        source=(doc.sitename or "web page").strip(),
        comments=comments,
    )


def from_pdf(data: bytes, where: str) -> Article:
    """Extract the text (and title/author metadata) of a PDF."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ExtractError(f"{where} is not a readable PDF ({exc})") from None
    text = clean_text("\n\n".join(pages))
    if not text.strip():
        raise ExtractError(
            f"{where} has no text layer (a scanned PDF?); citebot cannot read images"
        )
    title = clean_text(str(info.title or "")).strip() if info else ""
    author = clean_text(str(info.author or "")).strip() if info else ""
    return Article(title=title, paragraphs=tuple(_pdf_paragraphs(text)), author=author,
                   source="PDF")


def from_plain(text: str) -> Article:
    """Paragraphs of plain text (runs of lines between blank lines); no title."""
    text = clean_text(text)
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    return Article(title="", paragraphs=tuple(paragraphs), source="text")


def from_file(path: Path, max_bytes: int = 5_000_000) -> Article:
    """Read a .txt, .md, .html/.htm or .pdf file of at most ``max_bytes``.

    Raises:
        ExtractError: the file is of another type, too large, unreadable,
            binary, not UTF-8, or holds no text.
    """
    suffix = path.suffix.lower()
    if suffix not in (".pdf", ".html", ".htm", ".txt", ".md", ".markdown", ".text"):
        raise ExtractError(
            f"{path.name}: citebot reads .txt, .md, .html and .pdf files, not '{suffix or 'none'}'"
        )
    try:
        if path.stat().st_size > max_bytes:
            raise ExtractError(f"{path} is larger than {max_bytes / 1_000_000:g} MB")
        data = path.read_bytes()
    except OSError as exc:
        raise ExtractError(f"cannot read {path}: {exc.strerror or exc}") from None
    if suffix == ".pdf":
        return from_pdf(data, str(path))
    if suffix in (".html", ".htm"):
        return from_html(data, where=str(path))
    text = decode_text(data, str(path))
    if suffix in (".md", ".markdown") and text.startswith("---\n"):
        doc = load_document(path)  # the corpus format, front matter and comments
        article, comments = doc.sections[0], doc.sections[1:]
        return Article(
            title=doc.title, paragraphs=tuple(p.text for p in article.paragraphs),
            author=doc.author, date=doc.date, url=doc.url, source=doc.source or "file",
            comments=tuple(Comment(c.author, tuple(p.text for p in c.paragraphs))
                           for c in comments),
        )
    article = from_plain(text)
    title = ""
    if suffix in (".md", ".markdown") and article.paragraphs:
        heading = re.match(r"^#\s+(.+)$", article.paragraphs[0])
        if heading:
            title = heading.group(1).strip()
            article = Article(title="", paragraphs=article.paragraphs[1:], source="text")
    return Article(title=title, paragraphs=article.paragraphs, source="file")


def _pdf_paragraphs(text: str) -> list[str]:
    """PDF text comes as lines: join lines into paragraphs at blank lines or sentence ends."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped:
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        current.append(stripped)
        if stripped.endswith((".", "!", "?", "”", '"')) and len(stripped) < 60:
            paragraphs.append(" ".join(current))  # a short line ending a sentence ends a paragraph
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return [" ".join(p.split()) for p in paragraphs if p.strip()]


_AUTHOR_CLASSES = {"fn", "author", "comment-author", "username", "user", "commenter", "name"}
_BODY_CLASSES = {"comment-content", "comment-body", "comment-text", "content", "text", "body"}


def _classes(element: object) -> set[str]:
    return set(str(getattr(element, "get", lambda *_: "")("class") or "").lower().split())


def _outside_replies(element: object, root: object, replies: set[int]) -> bool:
    """Whether ``element`` belongs to ``root`` itself, not to a reply nested inside it."""
    parent = element
    while parent is not None and parent is not root:
        if id(parent) in replies:
            return False
        parent = parent.getparent()  # type: ignore[attr-defined]
    return True


def _comments(tree: object) -> list[Comment]:
    """Reader comments in document order, each with its author where the markup gives one."""
    found: list[Comment] = []
    for element in tree.iter():  # type: ignore[attr-defined]
        if not isinstance(element.tag, str) or "comment" not in _classes(element):
            continue
        nested = {id(e) for e in element.iterdescendants() if "comment" in _classes(e)}

        def own(e: object, root: object = element, nested: set[int] = nested) -> bool:
            return _outside_replies(e, root, nested)

        author = ""
        for e in element.iterdescendants():
            if own(e) and (_classes(e) & _AUTHOR_CLASSES or e.tag == "cite"):
                author = " ".join(e.text_content().split())
                break
        body = next((e for e in element.iterdescendants()
                     if own(e) and _classes(e) & _BODY_CLASSES), element)
        paragraphs = [" ".join(p.text_content().split()) for p in body.iter("p") if own(p)]
        if not paragraphs and body is not element:
            paragraphs = [" ".join(body.text_content().split())]
        paragraphs = [clean_text(p) for p in paragraphs if p]
        if paragraphs:
            found.append(Comment(clean_text(author)[:100], tuple(paragraphs)))
    return found
