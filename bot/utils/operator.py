"""Problems only the bot's operator can fix: a refused token, a privileged intent not
switched on, commands Discord will not register; each explained in one line.

``citebot serve`` and ``sync`` print the line and exit with the code the README
lists for it (``OperatorError.exit_code``). The bot raises these rather than
logging a traceback, because nothing in the code is wrong: a setting or the
Developer Portal is.
"""

from __future__ import annotations

import discord

from index.config import Settings
from index.errors import CitebotError

EXIT_TOKEN = 3
"""``citebot serve``/``sync`` exit code: Discord refused the token (at start or mid-run)."""
EXIT_INTENTS = 4
"""``citebot serve`` exit code: a privileged intent the bot asks for is not enabled."""
EXIT_ACCESS = 5
"""``citebot serve`` exit code: Discord refused to register the commands in a dev guild."""

TOKEN_REFUSED = ("Discord refused the bot token (401 Unauthorized); copy it again from the "
                 "Developer Portal (your application > Bot > Reset Token) into DISCORD_TOKEN "
                 "or token in [discord]")
TOKEN_REVOKED = ("Discord closed the connection because the bot token is no longer valid "
                 "(close code 4004: it was reset or revoked); copy the new one from the "
                 "Developer Portal (Bot > Reset Token) into DISCORD_TOKEN and start again")


class OperatorError(CitebotError):
    """A problem only the bot's operator can fix (token, portal settings): one line, and the
    exit code the README documents for it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def commands_refused(guild_id: str, error: discord.Forbidden) -> str:
    """The line for a dev guild where Discord will not take the slash commands."""
    return (f"Discord refused to register the slash commands in server {guild_id} "
            f"(403 {error.text or 'Forbidden'}, code {error.code}): the bot is not in that "
            "server, or was invited without the applications.commands scope. Invite it with "
            "both the bot and applications.commands scopes (OAuth2 > URL Generator), or "
            f"remove {guild_id} from discord.dev_guilds")


def intents_problem(settings: Settings, intents: discord.Intents) -> str:
    """Close code 4014 explained: the privileged intents asked for, the settings that asked
    for them, and where to switch them on."""
    d = settings.discord
    asked: list[str] = []
    reasons: list[str] = []
    if intents.message_content:
        asked.append("Message Content")
        reasons += [name for name, on in (
            ("discord.message_content is true", getattr(d, "message_content", False)),
            ("discord.ask_channels is set", bool(d.ask_channels)),
            ("discord.auto_annotate is true", d.auto_annotate)) if on]
    if intents.members:
        asked.append("Server Members")
    if intents.presences:
        asked.append("Presence")
    which = " and ".join(asked) or "a privileged"
    because = f" because {' and '.join(reasons)}" if reasons else ""
    undo = (f", or change {' and '.join(r.split()[0] for r in reasons)} so it is not needed"
            if reasons else "")
    return (f"Discord refused the connection (close code 4014): the bot asks for the {which} "
            f"intent{because}, and it is not enabled for this bot. Switch on {which} Intent "
            f"in the Developer Portal (your application > Bot > Privileged Gateway "
            f"Intents){undo}")
