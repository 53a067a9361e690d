"""``citebot remove``: delete an added article from the corpus and the index; the action
and its outcome go to the moderation log."""

from __future__ import annotations

import argparse

from citebot.commands.common import log_moderation, open_engine
from citebot.exits import EXIT_OK
from index.config import Settings
from index.errors import CitebotError


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot remove``: delete an added article from the corpus and the index (logged)."""
    from index.articles import check_scope

    try:
        scope = None if args.scope is None else check_scope(args.scope)
        engine = open_engine(settings, quiet=True)
        doc, report = engine.remove(args.doc_id, scope)
    except CitebotError as exc:
        log_moderation(settings, "remove", "refused", args.doc_id, "", str(exc), args.scope)
        raise
    log_moderation(settings, "remove", "done", args.doc_id, doc.doc_id,
                   f"{report.removed} passages", args.scope)
    print(f"removed '{doc.doc_id}': {doc.title} ({report.removed} passages)")
    return EXIT_OK
