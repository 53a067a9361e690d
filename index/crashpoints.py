"""Named points where a test can make the process die, to prove that writes are crash-safe.

``CITEBOT_CRASH_AT=<name>`` makes ``crash_point(name)`` kill the process with
SIGKILL at that moment: no cleanup, no flush, exactly as a power cut or the OOM
killer would. The tests kill ``citebot add`` at each point of an add in turn
and check that the next start finds the articles and the index in agreement,
without timing a kill with sleeps. Unset (always, outside tests), a point costs
one environment lookup.

The points of an add, in order: ``article-written`` (the article file is in
place, the index not yet updated), ``segment-written`` (the new segment is on
disk, not yet listed), ``manifest-written`` (a manifest lists it, ``CURRENT``
not yet switched), ``published`` (``CURRENT`` names the new manifest).
"""

from __future__ import annotations

import os
import signal

ENV = "CITEBOT_CRASH_AT"
POINTS = ("article-written", "segment-written", "manifest-written", "published")


def crash_point(name: str) -> None:
    """Die here, at once, if the environment names this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
