"""The ``citebot`` command line: a thin shell over the ``index`` library.

This module holds the argument parser and ``main``, which dispatches to the
handlers in ``citebot.commands``; what each command does is there, and how its
output looks is in ``citebot.terminal``.

Every error a user can cause arrives here as a ``CitebotError`` and leaves as one
line on standard error with a non-zero exit; only bugs print a traceback, and
only with ``--verbose``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from citebot.commands.add import cmd_add
from citebot.commands.ask import cmd_ask
from citebot.commands.common import hint
from citebot.commands.eval_ import cmd_eval
from citebot.commands.index_ import cmd_index
from citebot.commands.list_ import cmd_list
from citebot.commands.logs import (
    cmd_logs_export,
    cmd_logs_forget,
    cmd_logs_migrate,
    cmd_logs_purge,
    cmd_logs_stats,
)
from citebot.commands.remove import cmd_remove
from citebot.commands.serve import cmd_serve, shard_count_arg, shard_ids_arg
from citebot.commands.sync import cmd_sync
from citebot.exits import EXIT_BUG, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from citebot.terminal import configure_logging, silence_stdout
from index.config import load_settings
from index.errors import CitebotError

log = logging.getLogger("citebot")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; a test checks the README documents every command."""
    parser = argparse.ArgumentParser(
        prog="citebot",
        description="Answer questions with quoted, cited passages from a corpus of articles.",
    )
    parser.add_argument("--config", metavar="FILE", help="settings file (default: $CITEBOT_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = commands.add_parser("ask", help="answer a question with cited passages")
    ask.add_argument("question", nargs="+", help="the question, or - to read one per line")
    ask.add_argument("--top-k", type=int, metavar="N", help="at most N citations (1-50)")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    ask.add_argument("--scope", default="", metavar="S",
                     help="also search the articles added for scope S (a server id)")
    ask.add_argument("--no-log", action="store_true", help="do not record the question")
    ask.set_defaults(handler=cmd_ask)

    add = commands.add_parser("add", help="add an article from a URL, a file or pasted text")
    add.add_argument("source", help="an http(s) URL, a .txt/.md/.html/.pdf file, or - for stdin")
    add.add_argument("--title", help="the title (required for pasted text)")
    add.add_argument("--author", help="the author, when the source does not say")
    add.add_argument("--scope", default="", metavar="S",
                     help="add it for scope S only (default: every scope)")
    add.add_argument("--force", action="store_true", help="add a near-duplicate anyway")
    add.set_defaults(handler=cmd_add)

    listing = commands.add_parser("list", help="list the articles that can be cited")
    listing.add_argument("--json", action="store_true", help="print one JSON object per article")
    listing.add_argument("--scope", metavar="S",
                         help="only what scope S can cite (default: every article)")
    listing.set_defaults(handler=cmd_list)

    remove = commands.add_parser("remove", help="remove an added article by id")
    remove.add_argument("doc_id", metavar="DOC_ID", help="the id `citebot list` shows")
    remove.add_argument("--scope", metavar="S", help="the article must belong to scope S")
    remove.set_defaults(handler=cmd_remove)

    index = commands.add_parser("index", help="build or update the index")
    index.add_argument("--rebuild", action="store_true", help="re-embed and rebuild from scratch")
    index.set_defaults(handler=cmd_index)

    evaluate = commands.add_parser("eval", help="measure retrieval quality on a test collection")
    evaluate.add_argument("--collection", required=True, metavar="DIR",
                          help="a SMART (Cranfield, CISI) or BEIR (SciFact) folder")
    evaluate.add_argument("--split", default="test", help="BEIR judgments to use (default: test)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=cmd_eval)

    serve = commands.add_parser("serve", help="run the Discord bot (token: $DISCORD_TOKEN)")
    serve.add_argument("--shard-ids", type=shard_ids_arg, metavar="SPEC",
                       help="run only these shards, e.g. 0-3, 0,2,5 or 0-1,4 "
                            "(default: discord.shard_ids; empty: every shard)")
    serve.add_argument("--shard-count", type=shard_count_arg, metavar="N",
                       help="shards across all processes (default: discord.shard_count; "
                            "0: as many as Discord recommends)")
    serve.set_defaults(handler=cmd_serve, usage_error=serve.error)
    sync = commands.add_parser("sync", help="publish the bot's slash commands to every server")
    sync.set_defaults(handler=cmd_sync)

    logs = commands.add_parser("logs", help="read and care for the conversation log")
    log_commands = logs.add_subparsers(dest="logs_command", metavar="ACTION", required=True)
    export = log_commands.add_parser("export", help="write the logged questions")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    _log_filters(export)
    export.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    export.set_defaults(handler=cmd_logs_export)
    stats = log_commands.add_parser("stats", help="summarise the log")
    _log_filters(stats)
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.add_argument("--plot", metavar="FILE.png",
                       help="also draw questions per day and answered rate")
    stats.set_defaults(handler=cmd_logs_stats)
    forget = log_commands.add_parser("forget", help="delete every row about one user")
    forget.add_argument("user", metavar="USER_ID")
    forget.set_defaults(handler=cmd_logs_forget)
    purge = log_commands.add_parser("purge", help="delete rows older than the retention")
    purge.add_argument("--days", type=int, metavar="N",
                       help="older than N days (default: logs.retention_days)")
    purge.set_defaults(handler=cmd_logs_purge)
    migrate = log_commands.add_parser(
        "migrate", help="copy the SQLite log into PostgreSQL (safe to run again)")
    migrate.add_argument("--to", required=True, metavar="URL",
                         help="the target, postgresql://user@host/database")
    migrate.add_argument("--from", dest="source", metavar="FILE",
                         help="the SQLite log (default: the configured one)")
    migrate.set_defaults(handler=cmd_logs_migrate)
    return parser


def _log_filters(parser: argparse.ArgumentParser) -> None:
    """The filters ``logs export`` and ``logs stats`` share, so both spell them alike."""
    parser.add_argument("--since", metavar="DATE", help="only from this date (YYYY-MM-DD), UTC")
    parser.add_argument("--guild", metavar="ID", help="only this server")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        settings = load_settings(args.config)
        return int(args.handler(args, settings) or EXIT_OK)
    except CitebotError as exc:
        print(f"citebot: error: {exc}{hint(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("citebot: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        silence_stdout()
        return EXIT_OK
    except Exception as exc:
        log.debug("unexpected error", exc_info=True)
        if args.verbose:
            raise
        print(
            f"citebot: internal error: {type(exc).__name__}: {exc} "
            "(run with --verbose for details, and please report it)",
            file=sys.stderr,
        )
        return EXIT_BUG
