"""The articles citebot can cite: the bundled corpus plus those moderators add, by scope.

Added articles are stored in the corpus format under ``<data_dir>/articles/``:
``_global/`` for articles every server sees, ``<scope>/`` (a Discord server id)
for one server's own. The corpus files are the truth; the index follows them,
so an add or remove is: write (or delete) one file atomically, then bring the
index up to date, which embeds only the new passages. A crash between the two
leaves a file the index does not know yet, and the next start catches up.

Parsed files are cached by path, inode, size and modification time, with the
keys the duplicate check compares. ``documents`` scans the folders (a
``stat`` per file); ``snapshot`` returns the list as last scanned and kept up
to date by this library's own adds and removes, so an add or remove does not
scan the corpus at all: its cost does not grow with the corpus.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from index import atomic
from index.articles.documents import Document, load_corpus, load_document, render_document
from index.articles.extract import Article
from index.config import Settings
from index.crashpoints import crash_point
from index.errors import (
    LibraryError,
    MissingTitleError,
    NearDuplicateError,
    UnknownArticleError,
)

GLOBAL_FOLDER = "_global"
_SCOPE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MIN_CHARACTERS = 50



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


@dataclass(frozen=True)
class _DuplicateKeys:
    """What the duplicate check compares, computed once per file."""

    url: str
    text: str
    paragraphs: frozenset[str]

    @classmethod
    def of(cls, doc: Document) -> _DuplicateKeys:
        paragraphs = [p.text for p in doc.sections[0].paragraphs]
        return cls(_canonical(doc.url), _norm("\n\n".join(paragraphs)),
                   frozenset(_norm(p) for p in paragraphs))


@dataclass
class _Cached:
    stamp: tuple[int, int, int, str]
    doc: Document
    keys: _DuplicateKeys | None = field(default=None)


class Library:
    """Finds, adds and removes corpus files; knows which are bundled and which were added."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.data_dir / "articles"
        self._cache: dict[Path, _Cached] = {}
        self._snapshot: dict[str, Document] | None = None

    def snapshot(self) -> list[Document]:
        """The documents as last scanned, with this library's adds and removes applied."""
        if self._snapshot is None:
            self.documents()
        assert self._snapshot is not None
        return list(self._snapshot.values())

    def documents(self) -> list[Document]:
        """Every article, bundled and added, with its scope, read from the folders now.

        Raises:
            CorpusError: a file is malformed or two share an id.
        """
        docs = load_corpus(self.settings.corpus_dirs(), load=self._load)
        if self.root.is_dir():
            for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
                scope = "" if folder.name == GLOBAL_FOLDER else folder.name
                if scope and not _SCOPE.match(scope):
                    continue
                docs.extend(load_corpus([folder], scope, load=self._load))
        seen: dict[str, Document] = {}
        for doc in docs:
            if doc.doc_id in seen:
                raise LibraryError(
                    f"{doc.path}: id '{doc.doc_id}' is also used by {seen[doc.doc_id].path}"
                )
            seen[doc.doc_id] = doc
        self._snapshot = seen
        return docs

    def _load(self, path: Path, scope: str) -> Document:
        """Parse a corpus file, or return it from the cache if it has not changed."""
        info = path.stat()
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size, scope)
        cached = self._cache.get(path)
        if cached is None or cached.stamp != stamp:
            cached = self._cache[path] = _Cached(stamp, load_document(path, scope))
        return cached.doc

    def _keys(self, doc: Document) -> _DuplicateKeys:
        cached = self._cache.get(doc.path) if doc.path else None
        if cached is None or cached.doc is not doc:
            return _DuplicateKeys.of(doc)
        if cached.keys is None:
            cached.keys = _DuplicateKeys.of(doc)
        return cached.keys

    def visible(self, scope: str) -> list[Document]:
        """The articles a scope can cite: the global ones and its own."""
        return [d for d in self.snapshot() if d.scope in ("", scope)]

    def is_added(self, doc: Document) -> bool:
        """Whether a document was added (and so can be removed), not bundled or configured."""
        return doc.path is not None and self.root in doc.path.parents

    def info(self, scope: str | None = None) -> list[ArticleInfo]:
        """Articles for ``citebot list``: all of them, or those a scope can cite."""
        docs = self.documents()
        if scope is not None:
            docs = [d for d in docs if d.scope in ("", scope)]
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
            raise MissingTitleError("the article has no title; give it one")
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
        crash_point("article-written")
        doc = self._load(path, scope)
        self.snapshot()
        assert self._snapshot is not None
        self._snapshot[doc.doc_id] = doc
        return doc

    def remove(self, doc_id: str, scope: str | None = None) -> Document:
        """Delete an added article's file.

        Args:
            doc_id: the article's id (``citebot list`` shows it).
            scope: when given, the article must belong to this scope.

        Raises:
            LibraryError: no such article, a bundled one, or one of another scope.
        """
        doc = next((d for d in self.snapshot() if d.doc_id == doc_id), None)
        # Another scope's article does not exist as far as this scope can tell.
        if doc is None or (scope is not None and self.is_added(doc) and doc.scope != scope):
            raise UnknownArticleError(
                f"no article with id '{doc_id[:100]}'; the list of articles shows the ids")
        if not self.is_added(doc) or doc.path is None:
            raise LibraryError(
                f"'{doc_id}' is part of the bundled or configured corpus and cannot be removed here"
            )
        doc.path.unlink()
        atomic.fsync(doc.path.parent)
        self._cache.pop(doc.path, None)
        if self._snapshot is not None:
            self._snapshot.pop(doc.doc_id, None)
        return doc

    def _refuse_duplicates(self, article: Article, scope: str, force: bool) -> None:
        url = _canonical(article.url)
        fingerprint = _norm(article.body())
        new = {_norm(p) for p in article.paragraphs if len(p) > 40}
        for doc in self.visible(scope):
            keys = self._keys(doc)
            if url and keys.url == url:
                raise LibraryError(
                    f"this URL is already in the corpus as '{doc.doc_id}' ({doc.title})")
            if keys.text == fingerprint:
                raise LibraryError(
                    f"the same text is already in the corpus as '{doc.doc_id}' ({doc.title})")
            if new and not force:
                shared = len(new & keys.paragraphs) / len(new)
                if shared >= self.settings.ingest.near_duplicate:
                    raise NearDuplicateError(
                        f"{shared:.0%} of its paragraphs are already in '{doc.doc_id}' "
                        f"({doc.title})"
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
