"""``citebot serve``: run the Discord bot in the foreground until SIGTERM or Ctrl-C.

``--shard-ids`` and ``--shard-count`` override ``discord.shard_ids`` and
``discord.shard_count``, so that several processes can each run some of the
bot's shards from one config file.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Sequence

from citebot.commands.common import discord_token
from index.config import Settings, shard_problem

_SPEC_PART = re.compile(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?")
_MOST_SHARDS = 100_000
"""More shard ids than any one process could run: a typo, refused before it fills memory."""


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot serve``: run the Discord bot until SIGTERM or Ctrl-C (then exit 0).

    A refused token exits 3 and a privileged intent not enabled exits 4, each with one
    line saying what to change (the README lists the codes)."""
    settings = _with_shard_flags(args, settings)
    token = discord_token(settings)
    from bot.app import OperatorError, run

    running = describe_shards(settings.discord.shard_ids, settings.discord.shard_count)
    if running:
        print(f"citebot: {running}", file=sys.stderr)
    if _shares_an_sqlite_log(settings):
        print("citebot: warning: the other shards' processes will write this log's SQLite "
              "file too; that holds on one machine with light traffic, but processes should "
              "share a log on PostgreSQL (logs.url, docs/scaling.md)", file=sys.stderr)
    try:
        return run(settings, token)
    except OperatorError as exc:
        print(f"citebot: error: {exc}", file=sys.stderr)
        return exc.exit_code


def _shares_an_sqlite_log(settings: Settings) -> bool:
    """Whether this process runs only some shards (so others run the rest, on this data
    directory and log) while the log is an SQLite file."""
    d = settings.discord
    some = bool(d.shard_ids) and len(d.shard_ids) < d.shard_count
    return some and settings.logs.enabled and not settings.logs.url.startswith("postgres")


def _with_shard_flags(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings with the shard flags given on the command line in place of the config's.

    The two values are checked together, whichever side each came from; a mistake is a
    usage error (exit 2) naming the flag or setting the user wrote (a missing count, the
    flag: that is the fix on this command line)."""
    ids = settings.discord.shard_ids if args.shard_ids is None else args.shard_ids
    count = settings.discord.shard_count if args.shard_count is None else args.shard_count
    count_from_config = args.shard_count is None and settings.discord.shard_count != 0
    problem = shard_problem(
        ids, count,
        ids_name="discord.shard_ids" if args.shard_ids is None else "--shard-ids",
        count_name="discord.shard_count" if count_from_config else "--shard-count")
    if problem:
        args.usage_error(problem)  # exits 2, as argparse does for any bad argument
    return dataclasses.replace(settings, discord=dataclasses.replace(
        settings.discord, shard_ids=list(ids), shard_count=count))


def shard_ids_arg(spec: str) -> list[int]:
    """``--shard-ids``: ids and ranges such as ``0-3``, ``0,2,5`` or ``0-1,4``, sorted.

    Raises:
        argparse.ArgumentTypeError: the spec is malformed, a range runs backwards, or an id
            is listed twice; argparse turns it into a usage error (exit 2).
    """
    ids: list[int] = []
    for part in spec.split(","):
        match = _SPEC_PART.fullmatch(part)
        if match is None:
            raise argparse.ArgumentTypeError(
                f"{spec!r} is not a list of shard ids; write ids and ranges such as 0-3, "
                "0,2,5 or 0-1,4")
        first, last = int(match[1]), int(match[2] or match[1])
        if last < first:
            raise argparse.ArgumentTypeError(
                f"the range {first}-{last} runs backwards; write {last}-{first}")
        if len(ids) + last - first >= _MOST_SHARDS:
            raise argparse.ArgumentTypeError(
                f"{spec!r} names more shards than one process can run; give this "
                "process's share, such as 0-3")
        ids.extend(range(first, last + 1))
    if len(set(ids)) != len(ids):
        raise argparse.ArgumentTypeError(f"{spec!r} lists a shard more than once")
    return sorted(ids)


def shard_count_arg(text: str) -> int:
    """``--shard-count``: a whole number, 0 or more (0: the count Discord recommends).

    Raises:
        argparse.ArgumentTypeError: not a whole number, or negative.
    """
    if not re.fullmatch(r"\s*[0-9]+\s*", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of shards; give the number across all processes, "
            "such as 8 (0: as many as Discord recommends)")
    return int(text)


def describe_shards(ids: Sequence[int], count: int) -> str:
    """The line ``serve`` prints at start, e.g. "running shards 0-3 of 8", so each process's
    share shows in its log; empty when Discord picks the count (one process runs them all).
    """
    if count == 0:
        return ""
    ids = sorted(ids) or list(range(count))
    runs: list[list[int]] = []
    for shard in ids:
        if runs and shard == runs[-1][-1] + 1:
            runs[-1].append(shard)
        else:
            runs.append([shard])
    spec = ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)
    return f"running shard{'s' if len(ids) > 1 else ''} {spec} of {count}"
