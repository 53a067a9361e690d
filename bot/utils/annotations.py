"""Which channels moderators switched auto-annotation on in, kept across restarts.

A small JSON file in the data directory, written atomically (a crash leaves
the old or the new list, never half of one). A damaged file is set aside with
a warning: annotation then starts off everywhere, which is the safe default.
Also here: the per-channel rate limit, so a busy discussion gets at most one
📎 per interval.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from pathlib import Path

from index import atomic

log = logging.getLogger(__name__)

FILE_NAME = "annotate-channels.json"


class AnnotatedChannels:
    """The channels with auto-annotation on, their last 📎, and the messages marked."""

    def __init__(self, channels: dict[str, str], path: Path, interval: float) -> None:
        self.path = path
        self.interval = interval
        self.channels = channels
        """channel id -> guild id"""
        self._last: dict[str, float] = {}
        self.marked: OrderedDict[int, str] = OrderedDict()
        """message id -> the question id logged for it, once its sources were shown ("")"""

    @classmethod
    def load(cls, path: Path, interval: float) -> AnnotatedChannels:
        """The saved switches (blocking: call it in a thread); none if the file is damaged."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not an object")
            channels = {str(k): str(v) for k, v in data.items()}
        except FileNotFoundError:
            channels = {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s (%s): auto-annotation is off in every channel", path, exc)
            channels = {}
        return cls(channels, path, interval)

    def is_on(self, channel_id: int) -> bool:
        """Whether a moderator switched auto-annotation on in the channel."""
        return str(channel_id) in self.channels

    def switch(self, channel_id: int, guild_id: int, on: bool) -> None:
        """Switch a channel on or off and save the list (blocking: call it in a thread)."""
        if on:
            self.channels[str(channel_id)] = str(guild_id)
        else:
            self.channels.pop(str(channel_id), None)
        atomic.write_text(self.path, json.dumps(self.channels, indent=1, sort_keys=True))

    def may_annotate(self, channel_id: int) -> bool:
        """Whether the channel's interval since its last 📎 has passed."""
        return time.monotonic() - self._last.get(str(channel_id), -1e18) >= self.interval

    def mark(self, channel_id: int, message_id: int) -> None:
        """Record a 📎 on a message (it starts the channel's interval)."""
        self._last[str(channel_id)] = time.monotonic()
        self.marked[message_id] = ""
        while len(self.marked) > 5000:
            self.marked.popitem(last=False)
