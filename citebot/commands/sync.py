"""``citebot sync``: publish the bot's slash commands to every server, without serving."""

from __future__ import annotations

import argparse
import sys

from citebot.commands.common import discord_token
from citebot.exits import EXIT_OK
from index.config import Settings


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot sync``: publish the slash commands globally (Discord may take an hour)."""
    token = discord_token(settings)
    from bot.app import OperatorError, sync_globally

    try:
        names = sync_globally(settings, token)
    except OperatorError as exc:
        print(f"citebot: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"synced {len(names)} commands globally: {', '.join(sorted(names))}")
    return EXIT_OK
