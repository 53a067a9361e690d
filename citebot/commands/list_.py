"""``citebot list``: the articles that can be cited, bundled and added, with their ids.

Named ``list_`` so that importing it never shadows the builtin ``list``.
"""

from __future__ import annotations

import argparse

from citebot.exits import EXIT_OK
from citebot.terminal import print_json
from index.config import Settings


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot list``: the articles, bundled and added, with their ids and scopes."""
    from index.articles import Library, check_scope

    scope = None if args.scope is None else check_scope(args.scope)
    articles = Library(settings).info(scope)
    for a in articles:
        if args.json:
            print_json(a.to_json())
        else:
            origin = "bundled" if a.bundled else (f"scope {a.scope}" if a.scope else "added")
            byline = f" — {a.author}" if a.author else ""
            print(f"{a.doc_id}  {a.title}{byline}  [{origin}]")
    return EXIT_OK
