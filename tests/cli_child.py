"""The citebot command line pointed at the Discord stand-in (tests only).

    python cli_child.py API_BASE GATEWAY_URL COMMAND...

The two class attributes are all discord.py needs to talk to 127.0.0.1 instead
of Discord; the rest is the command exactly as users run it.
"""

import sys

import discord
import yarl

from citebot.cli import main

discord.http.Route.BASE = sys.argv[1]
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv[2])
sys.exit(main(sys.argv[3:]))
