"""``citebot add``: read an article from a URL, a file or pasted text, and add it to the
corpus and the index; the action and its outcome go to the moderation log."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from citebot.commands.common import log_moderation, open_engine
from citebot.exits import EXIT_OK
from citebot.terminal import progress_bar
from index.config import Settings
from index.errors import CitebotError


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot add``: read the source, refuse duplicates, store it and index its passages.

    The action and its result (done, or refused and why) go to the log.
    """
    try:
        doc_id = _add(args, settings)
    except CitebotError as exc:
        log_moderation(settings, "add", "refused", args.source, "", str(exc), args.scope)
        raise
    log_moderation(settings, "add", "done", args.source, doc_id, "", args.scope)
    return EXIT_OK


def _add(args: argparse.Namespace, settings: Settings) -> str:
    """Read, add and report the article; returns its id so the log can name it.

    Anything that looks like a URL (``://``, or a javascript:, data: or mailto:
    link) goes to the fetcher, whose refusal names the scheme, rather than being
    read as a file that does not exist.
    """
    import dataclasses

    from index.articles import check_scope, from_file, from_plain

    scope = check_scope(args.scope)
    source = args.source
    if source == "-":
        if not args.title:
            raise CitebotError("pasted text needs a title: add --title \"...\"")
        article = from_plain(sys.stdin.read())
    elif "://" in source or source.split(":", 1)[0].lower() in ("javascript", "data", "mailto"):
        from index.articles import read_url

        article = asyncio.run(read_url(source, settings.ingest))
    else:
        article = from_file(Path(source), settings.ingest.max_bytes)
    if args.title:
        article = dataclasses.replace(article, title=args.title)
    if args.author:
        article = dataclasses.replace(article, author=args.author)
    engine = open_engine(settings, quiet=True)
    with progress_bar("embedding passages") as progress:
        doc, report = engine.add(article, scope, args.force, progress)
    where = f" for scope {scope}" if scope else ""
    print(f"added '{doc.doc_id}'{where}: {doc.title}"
          + (f" — {doc.author}" if doc.author else "")
          + f" ({report.added} passages)")
    return doc.doc_id
