"""The articles citebot can cite: the bundled corpus plus those moderators add, by scope.

Added articles are stored in the corpus format under ``<data_dir>/articles/``:
``_global/`` for articles every server sees, ``<scope>/`` (a Discord server id)
for one server's own. The corpus files are the truth; the index follows them,
so an add or remove is: write (or delete) one file atomically, then bring the
index up to date, which embeds only the new passages. A crash between the two
leaves a file the index does not know yet, and the next start catches up.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from . import atomic
from .config import Settings
from .documents import Document, load_corpus, load_document, render_document
from .errors import CitebotError
from .extract import Article

GLOBAL_FOLDER = "_global"
_SCOPE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MIN_CHARACTERS = 50


class LibraryError(CitebotError):
    """An add or remove that is refused; the message says why and what to do."""


@dataclass(frozen=True)
class ArticleInfo:
    """One article as ``citebot list`` shows it."""

    doc_id: str
    title: str
    author: str
    date: str
    url: str
    source: str
    scope: str
    bundled: bool
    comments: int

    def to_json(self) -> dict[str, object]:
        """The ``citebot list --json`` record."""
        return dict(self.__dict__)


def check_scope(scope: str) -> str:
    """Validate a scope name ("" is the global corpus)."""
    if scope and not _SCOPE.match(scope):
        raise LibraryError(
            f"'{scope[:80]}' is not a usable scope: use letters, digits, '-' or '_' (a server id)"
        )
    return scope


class Library:
    """Finds, adds and removes corpus files; knows which are bundled and which were added."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.data_dir / "articles"

    def documents(self) -> list[Document]:
        """Every article, bundled and added, with its scope.

        Raises:
            CorpusError: a file is malformed or two share an id.
        """
        docs = load_corpus(self.settings.corpus_dirs())
        if self.root.is_dir():
            for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
                scope = "" if folder.name == GLOBAL_FOLDER else folder.name
                if scope and not _SCOPE.match(scope):
                    continue
                docs.extend(load_corpus([folder], scope))
        seen: dict[str, Document] = {}
        for doc in docs:
            if doc.doc_id in seen:
                raise LibraryError(
                    f"{doc.path}: id '{doc.doc_id}' is also used by {seen[doc.doc_id].path}"
                )
            seen[doc.doc_id] = doc
        return docs

    def visible(self, scope: str) -> list[Document]:
        """The articles a scope can cite: the global ones and its own."""
        return [d for d in self.documents() if d.scope in ("", scope)]

    def is_added(self, doc: Document) -> bool:
        """Whether a document was added (and so can be removed), not bundled or configured."""
        return doc.path is not None and self.root in doc.path.parents

    def info(self, scope: str | None = None) -> list[ArticleInfo]:
        """Articles for ``citebot list``: all of them, or those a scope can cite."""
        docs = self.documents() if scope is None else self.visible(scope)
        return [
            ArticleInfo(d.doc_id, d.title, d.author, d.date, d.url, d.source, d.scope,
                        not self.is_added(d), sum(1 for s in d.sections[1:] if s.paragraphs))
            for d in docs
        ]

    def add(self, article: Article, scope: str = "", force: bool = False) -> Document:
        """Store a new article after checking it is not empty and not a duplicate.

        Returns:
            The stored document (the index is not updated here; see Engine.add).

        Raises:
            LibraryError: no title, too little text, or a duplicate of an
                article this scope can already cite.
        """
        check_scope(scope)
        title = " ".join(article.title.split())
        if not title:
            raise LibraryError("the article has no title; give one with --title")
        if article.text_size() < MIN_CHARACTERS:
            raise LibraryError(
                f"the source holds too little text to cite ({article.text_size()} characters)"
            )
        self._refuse_duplicates(article, scope, force)
        text = render_document(
            title=title, author=article.author, date=article.date, source=article.source,
            url=article.url, body=article.body(),
            comments=[{"text": "\n\n".join(c.paragraphs), "author": c.author}
                      for c in article.comments],
        )
        digest = hashlib.sha256(f"{scope}\x1f{text}".encode()).hexdigest()[:8]
        doc_id = f"{_slug(title)}-{digest}"
        folder = self.root / (scope or GLOBAL_FOLDER)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{doc_id}.md"
        atomic.write_text(path, text)
        return load_document(path, scope)

    def remove(self, doc_id: str, scope: str | None = None) -> Document:
        """Delete an added article's file.

        Args:
            doc_id: the article's id (``citebot list`` shows it).
            scope: when given, the article must belong to this scope.

        Raises:
            LibraryError: no such article, a bundled one, or one of another scope.
        """
        doc = next((d for d in self.documents() if d.doc_id == doc_id), None)
        # Another scope's article does not exist as far as this scope can tell.
        if doc is None or (scope is not None and self.is_added(doc) and doc.scope != scope):
            raise LibraryError(f"no article with id '{doc_id[:100]}'; `citebot list` shows the ids")
        if not self.is_added(doc) or doc.path is None:
            raise LibraryError(
                f"'{doc_id}' is part of the bundled or configured corpus and cannot be removed here"
            )
        doc.path.unlink()
        atomic.fsync(doc.path.parent)
        return doc

    def _refuse_duplicates(self, article: Article, scope: str, force: bool) -> None:
        url = _canonical(article.url)
        fingerprint = _norm(article.body())
        new = {_norm(p) for p in article.paragraphs if len(p) > 40}
        for doc in self.visible(scope):
            if url and _canonical(doc.url) == url:
                raise LibraryError(
                    f"this URL is already in the corpus as '{doc.doc_id}' ({doc.title})")
            paragraphs = [p.text for p in doc.sections[0].paragraphs]
            if _norm("\n\n".join(paragraphs)) == fingerprint:
                raise LibraryError(
                    f"the same text is already in the corpus as '{doc.doc_id}' ({doc.title})")
            if new and not force:
                shared = len(new & {_norm(p) for p in paragraphs}) / len(new)
                if shared >= self.settings.ingest.near_duplicate:
                    raise LibraryError(
                        f"{shared:.0%} of its paragraphs are already in '{doc.doc_id}' "
                        f"({doc.title}); add --force to add it anyway"
                    )


def _slug(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:48].rstrip("-") or "article"


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())


def _canonical(url: str) -> str:
    if not url:
        return ""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))
