"""``citebot index``: bring the index up to date with the corpus, or rebuild it.

Named ``index_`` so that it is never mistaken for the ``index`` library package.
"""

from __future__ import annotations

import argparse

from citebot.commands.common import open_engine
from citebot.exits import EXIT_OK
from index.config import Settings


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot index``: bring the index up to date (or rebuild it) and say what changed."""
    if args.rebuild:
        import shutil

        shutil.rmtree(settings.data_dir / "index", ignore_errors=True)
    engine = open_engine(settings, quiet=True)
    print(engine.report.describe())
    return EXIT_OK
