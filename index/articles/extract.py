"""Turning a web page, a file or pasted text into an article: metadata, paragraphs, comments.

Web pages go through trafilatura, which keeps the main text and drops
navigation, ads, footers and cookie banners, and reads title, author, date and
canonical URL. Reader comments are read separately (trafilatura gives their text
but not who wrote each), from the usual comment markup: an element whose class
includes ``comment``, its author in ``fn``/``author``/``username``/``cite``, its
text in ``comment-content``/``comment-body`` or its paragraphs.

A closing author bio is kept apart from the article's text and stored marked
(``## About the author``, see ``index.articles.documents``), so it is cited only for
questions about its author. It is recognised, in this order:

1. in a page, an element whose class or id names an author bio (``author-bio``,
   ``about-author``, ``author-box``, ``author-info``, ``author-description``,
   ``bio``, ``biography``...); its paragraphs are the bio;
2. in any source, a paragraph that is just "About the author" (or "About the
   authors", "Sobre el autor", "Sobre la autora"): what follows is the bio;
3. in any source, up to two closing paragraphs of at most 700 characters that
   start with the author's name followed by "is", "was", "has", "writes",
   "es", "fue", "ha" or "escribe" ("Ana Quispe is a reporter..."); when the
   source names no author, the paragraph must start with a capitalised name of
   two to four words, "is", "was", "es" or "fue" and an article ("a", "an",
   "un", "una"), and name a trade (journalist, writer, professor, periodista...).
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from index.articles.documents import BIO, BIO_HEADING, CONTENT, load_document
from index.errors import ExtractError

log = logging.getLogger(__name__)



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
    bio: tuple[str, ...] = ()
    """The author's bio, kept out of ``paragraphs`` and stored marked."""

    def body(self) -> str:
        """The paragraphs as corpus-file text, one blank line between them, then the bio."""
        marked = (BIO_HEADING, *self.bio) if self.bio else ()
        return "\n\n".join((*self.paragraphs, *marked))

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
    author = clean_text(doc.author or "").strip()
    try:
        tree = lxml_html.fromstring(html)
        comments = tuple(_comments(tree))
        marked = _marked_bio(tree)
    except (ValueError, TypeError) as exc:  # lxml refuses some malformed documents
        log.warning("could not read comments from %s: %s", where, exc)
        comments, marked = (), []
    content, bio = _without_bio(paragraphs, marked, author)
    return Article(
        title=title,
        paragraphs=content,
        bio=bio,
        author=author,
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
    content, bio = split_bio(_pdf_paragraphs(text), author)
    return Article(title=title, paragraphs=content, bio=bio, author=author, source="PDF")


def from_plain(text: str) -> Article:
    """Paragraphs of plain text (runs of lines between blank lines); no title."""
    text = clean_text(text)
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    content, bio = split_bio(paragraphs, "")
    return Article(title="", paragraphs=content, bio=bio, source="text")


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
        # A comment's own bio has no place in Article; only its content is kept.
        return Article(
            title=doc.title,
            paragraphs=tuple(p.text for p in article.paragraphs if p.part == CONTENT),
            bio=tuple(p.text for p in article.paragraphs if p.part == BIO),
            author=doc.author, date=doc.date, url=doc.url, source=doc.source or "file",
            comments=tuple(Comment(c.author, tuple(p.text for p in c.paragraphs
                                                   if p.part == CONTENT))
                           for c in comments),
        )
    article = from_plain(text)
    title = ""
    paragraphs = article.paragraphs
    if suffix in (".md", ".markdown") and paragraphs:
        heading = re.match(r"^#\s+(.+)$", paragraphs[0])
        if heading:
            title = heading.group(1).strip()
            paragraphs = paragraphs[1:]
    return Article(title=title, paragraphs=paragraphs, bio=article.bio, source="file")


_BIO_TITLE = re.compile(
    r"^(?:#+\s*)?(?:about the authors?|sobre (?:el|la) autora?|sobre los autores)\s*:?$",
    re.IGNORECASE)
_BIO_VERB = r"(?:is|was|has|writes|es|fue|ha|escribe)"
_NAMED_BIO = re.compile(r"^(?:[A-ZÁÉÍÓÚÑ][\w.'’-]*\s+){2,4}(?:is|was|es|fue)\s+(?:an?|una?)\s")
_TRADE = re.compile(
    r"\b(?:journalist|writer|reporter|correspondent|editor|columnist|author|professor|"
    r"researcher|historian|activist|analyst|scholar|photographer|periodista|escritora?|"
    r"reportera?|corresponsal|editora?|columnista|autora?|profesora?|investigadora?|"
    r"historiadora?|activista|analista|fot[oó]grafa?)\b", re.IGNORECASE)
_BIO_MAX_CHARACTERS = 700


def split_bio(paragraphs: list[str] | tuple[str, ...], author: str
              ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Separate a closing author bio from the article's paragraphs (see the module docstring).

    At least one paragraph always stays content: a text that is all bio is
    still an article someone chose to add.
    """
    paragraphs = tuple(paragraphs)
    for i in range(len(paragraphs) - 2, 0, -1):
        if _BIO_TITLE.match(paragraphs[i]):
            return paragraphs[:i], paragraphs[i + 1:]
    start = len(paragraphs)
    while start > 1 and len(paragraphs) - start < 2 and _is_bio(paragraphs[start - 1], author):
        start -= 1
    return paragraphs[:start], paragraphs[start:]


def _is_bio(paragraph: str, author: str) -> bool:
    """Whether a closing paragraph reads as a bio of ``author`` (or of someone, if unknown)."""
    text = " ".join(paragraph.split()).lstrip("—–-*_ ")
    if not text or len(text) > _BIO_MAX_CHARACTERS:
        return False
    name = " ".join(author.split())
    if name:
        return re.match(re.escape(name) + r",?\s+" + _BIO_VERB + r"\b", text,
                        re.IGNORECASE) is not None
    return _NAMED_BIO.match(text) is not None and _TRADE.search(text) is not None


def _without_bio(paragraphs: list[str], marked: list[str], author: str
                 ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The page's content and bio: the bio its markup names, else one ``split_bio`` finds."""
    if not marked:
        return split_bio(paragraphs, author)
    # trafilatura may or may not have kept the bio box (and its title) in the main text.
    known = {" ".join(p.split()) for p in marked}
    inside = " ".join(marked)
    content = tuple(p for p in paragraphs
                    if p not in known and not _BIO_TITLE.match(p) and not (len(p) > 40
                                                                            and p in inside))
    return (content or tuple(paragraphs)), tuple(marked)


_BIO_MARKUP = re.compile(
    r"^(?:author[-_]?(?:bio|box|info|about|description|details|profile)|"
    r"about[-_]?(?:the[-_]?)?authors?|(?:post[-_]|entry[-_])?(?:author[-_]?)?bio(?:graphy)?|"
    r"autor[-_]?(?:bio|info))$")


def _marked_bio(tree: object) -> list[str]:
    """The paragraphs of the first element whose class or id names an author bio."""
    for element in tree.iter():  # type: ignore[attr-defined]
        if not isinstance(element.tag, str):
            continue
        names = _classes(element) | {str(element.get("id") or "").lower()}
        if not any(_BIO_MARKUP.match(n) for n in names if n):
            continue
        if any("comment" in _classes(a) for a in element.iterancestors()):
            continue  # a commenter's profile box is not the article author's bio
        paragraphs = [" ".join(p.text_content().split()) for p in element.iter("p")]
        if not paragraphs:
            paragraphs = [" ".join(element.text_content().split())]
        paragraphs = [clean_text(p) for p in paragraphs if p and not _BIO_TITLE.match(p)]
        if paragraphs:
            return paragraphs
    return []


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
        if _BIO_TITLE.match(stripped):  # a bio's title line stands alone, as in the page
            paragraphs.extend([" ".join(current), stripped] if current else [stripped])
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
