"""``citebot serve``: run the Discord bot in the foreground until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import sys

from citebot.commands.common import discord_token
from index.config import Settings


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot serve``: run the Discord bot until SIGTERM or Ctrl-C (then exit 0).

    A refused token exits 3 and a privileged intent not enabled exits 4, each with one
    line saying what to change (the README lists the codes)."""
    token = discord_token(settings)
    from bot.app import OperatorError, run

    try:
        return run(settings, token)
    except OperatorError as exc:
        print(f"citebot: error: {exc}", file=sys.stderr)
        return exc.exit_code
