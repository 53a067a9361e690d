"""What several commands share: opening the engine, logging a moderation action, reading
the Discord token, and the command-line hint added after a refusal.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING

from citebot.terminal import progress_bar
from index.config import Settings
from index.errors import (
    CitebotError,
    MissingTitleError,
    NearDuplicateError,
    UnknownArticleError,
)

if TYPE_CHECKING:
    from index.retrieval import Engine


def open_engine(settings: Settings, quiet: bool = False) -> Engine:
    """Load the model and bring the index up to date, with a progress bar."""
    from index.retrieval import Engine

    with progress_bar("embedding passages") as progress:
        engine = Engine.open(settings, progress)
    report = engine.report
    if (report.rebuilt or report.added or report.removed) and not quiet:
        print(f"citebot: {report.describe()}", file=sys.stderr)
    return engine


def log_moderation(settings: Settings, action: str, result: str, target: str, doc_id: str,
                   detail: str, scope: str | None) -> None:
    """Record a moderation action from the command line (by the local user)."""
    import getpass

    from index.logs import open_log

    async def record() -> None:
        """Open, write and close the log in one loop: the command has none of its own."""
        logs = await open_log(settings.logs, settings.log_path)
        logs.moderation(action, result, user=f"local:{getpass.getuser()}", guild=scope or "",
                        target=target, doc_id=doc_id, detail=detail)
        await logs.close()
        url = settings.logs.url
        if result == "done" and settings.logs.enabled and url.startswith("postgres"):
            from index.logs.notify import announce_once

            # Bots serving this data directory take the change in at once, not at their poll.
            await announce_once(url)

    asyncio.run(record())


def discord_token(settings: Settings) -> str:
    """The bot token, from $DISCORD_TOKEN or the config; refused early, before Discord is
    imported, with where to find one (``serve`` and ``sync`` both need it)."""
    token = os.environ.get("DISCORD_TOKEN", "").strip() or settings.discord.token.strip()
    if not token:
        raise CitebotError(
            "no Discord bot token: set DISCORD_TOKEN, or token in the [discord] section of "
            "the config (the Developer Portal shows it under Bot > Token). Without Discord, "
            "`citebot ask` answers in the terminal")
    return token


def hint(exc: CitebotError) -> str:
    """How to get past a refusal on the command line (the library names no flags)."""
    if isinstance(exc, NearDuplicateError):
        return "; add --force to add it anyway"
    if isinstance(exc, MissingTitleError):
        return ' with --title "..."'
    if isinstance(exc, UnknownArticleError):
        return " (`citebot list`)"
    return ""
