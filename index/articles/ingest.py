"""Turning a source into an Article: a URL, an uploaded file or pasted text.

One place for the rules the command line and the bot's /article add share: a
URL is fetched under the fetch policy and its body extracted by kind; an
upload is checked by name and size before it is parsed; pasted text needs a
title. Extraction (trafilatura, pypdf) is CPU work, so async callers get it in
a worker thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from pathlib import Path, PurePath

from index.articles.extract import (
    Article,
    ExtractError,
    decode_text,
    from_file,
    from_html,
    from_pdf,
    from_plain,
)
from index.articles.fetch import Fetched, fetch, policy_from
from index.config import IngestSettings

READABLE = (".pdf", ".html", ".htm", ".txt", ".md", ".markdown", ".text")


async def read_url(url: str, settings: IngestSettings) -> Article:
    """Fetch a URL under the ingestion rules and extract its article.

    Raises:
        FetchError: the URL is refused or cannot be fetched.
        ExtractError: the page holds no usable text.
    """
    policy = policy_from(settings.allow_hosts, settings.fetch_timeout, settings.max_bytes,
                         settings.max_redirects)
    fetched = await fetch(url, policy)
    return await asyncio.to_thread(from_fetched, fetched, url)


def from_fetched(fetched: Fetched, source: str) -> Article:
    """The article in a fetched body, by its kind; the final URL when the page names none."""
    if fetched.kind == "pdf":
        article = from_pdf(fetched.body, source)
    elif fetched.kind == "html":
        article = from_html(fetched.body, fetched.url, source)
    else:
        article = from_plain(decode_text(fetched.body, source))
    if not article.url:
        article = dataclasses.replace(article, url=fetched.url)
    return article


def check_upload(name: str, size: int, max_bytes: int) -> None:
    """Refuse an upload by its name and size, before downloading it.

    Raises:
        ExtractError: not a readable kind of file, or too large.
    """
    suffix = PurePath(name).suffix.lower()
    if suffix not in READABLE:
        raise ExtractError(
            f"{name[:80]}: citebot reads .txt, .md, .html and .pdf files, not '{suffix or 'none'}'")
    if size > max_bytes:
        raise ExtractError(f"{name[:80]} is {size / 1_000_000:.1f} MB; the limit is "
                           f"{max_bytes / 1_000_000:g} MB")


def from_upload(name: str, data: bytes, max_bytes: int) -> Article:
    """Parse an uploaded file's bytes as ``from_file`` parses a file of that name."""
    check_upload(name, len(data), max_bytes)
    safe = "upload" + PurePath(name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="citebot-upload-") as folder:
        path = Path(folder) / safe
        path.write_bytes(data)
        return from_file(path, max_bytes)
