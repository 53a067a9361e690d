"""Posting where Discord says the bot may not: one warning per channel, then quiet.

A server that invites the bot without Send Messages (or Embed Links, or thread
rights) in a channel makes every answer there fail with Missing Permissions.
That is the server's to fix, not a bug: the operator is told once per channel
which permissions to grant, later failures there are only debug lines, and the
bot carries on answering everywhere else.
"""

from __future__ import annotations

import logging

import discord

log = logging.getLogger(__name__)


class PostingProblems:
    """The (channel, permissions) pairs the operator was already warned about."""

    def __init__(self) -> None:
        self._told: set[tuple[int, str]] = set()

    def cannot_post(self, channel: object, error: BaseException, thread: bool = False) -> bool:
        """True if ``error`` is Discord's Missing Permissions (403, code 50013) for posting in
        ``channel`` (``thread``: for starting a thread there); then one warning per channel
        names the permissions to grant (later failures there stay quiet)."""
        if not (isinstance(error, discord.Forbidden) and error.code == 50013):
            return False
        if thread:
            needed = "Create Public Threads and Send Messages in Threads"
        elif isinstance(channel, discord.Thread):
            needed = "Send Messages in Threads, Embed Links and Read Message History"
        else:
            needed = "Send Messages, Embed Links and Read Message History"
        channel_id = int(getattr(channel, "id", 0) or 0)
        if (channel_id, needed) in self._told:
            log.debug("missing permissions in channel %s again", channel_id)
            return True
        self._told.add((channel_id, needed))
        name = getattr(channel, "name", None)
        where = f"#{name} ({channel_id})" if name else f"channel {channel_id}"
        log.warning("cannot answer in %s: Discord says Missing Permissions; give the bot %s "
                    "there (Server Settings > Roles, or the channel's Edit Channel > "
                    "Permissions). Further failures in this channel are not logged.",
                    where, needed)
        return True
