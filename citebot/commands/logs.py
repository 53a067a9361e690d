"""``citebot logs``: read and care for the conversation log (export, stats, forget, purge,
migrate)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from citebot.exits import EXIT_OK
from citebot.terminal import print_json
from index.config import Settings
from index.errors import CitebotError


def cmd_logs_export(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot logs export``: every logged question as JSON lines or CSV."""
    from index.logs import export

    return asyncio.run(export(settings, args.format, args.since or "", args.guild or "",
                              args.output))


def cmd_logs_stats(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot logs stats``: the summary, optionally as JSON and as a chart."""
    from index.logs import plot, read_stats, render_stats

    stats = asyncio.run(read_stats(settings, args.since or "", args.guild or ""))
    if args.json:
        print_json(stats.to_json())
    else:
        print(render_stats(stats))
    if args.plot:
        plot(stats, Path(args.plot))
        print(f"chart written to {args.plot}", file=sys.stderr)
    return EXIT_OK


def cmd_logs_forget(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot logs forget``: delete every row about one user."""
    from index.logs import forget

    removed = asyncio.run(forget(settings, args.user))
    print(f"deleted {removed} rows about user {args.user[:40]}")
    return EXIT_OK


def cmd_logs_purge(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot logs purge``: delete rows older than the retention period."""
    from index.logs import purge

    days = args.days if args.days is not None else settings.logs.retention_days
    if days <= 0:
        raise CitebotError("give --days N (at least 1), or set logs.retention_days")
    removed = asyncio.run(purge(settings, days))
    print(f"deleted {removed} questions older than {days} days")
    return EXIT_OK


def cmd_logs_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot logs migrate --to URL``: copy the SQLite log into PostgreSQL, checked."""
    from index.logs import migrate_log
    from index.logs.migrate import redacted

    if not args.to.startswith(("postgresql://", "postgres://")):
        raise CitebotError("--to takes a PostgreSQL URL: postgresql://user@host/database")
    source = Path(args.source).expanduser() if args.source else settings.log_path
    copied = asyncio.run(migrate_log(source, args.to))
    for table in copied:
        print(f"{table.table:10} {table.source:>8} rows in {source}, "
              f"{table.present:>8} of them in the target")
    print(f"the log is in {redacted(args.to)}; set logs.url to it in every process's config")
    return EXIT_OK
