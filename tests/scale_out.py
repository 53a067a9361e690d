"""Several ``citebot serve`` processes on one data directory and one PostgreSQL log.

The scale-out scenario of ``docs/scaling.md``, as the test
(``tests/test_bot/test_scale_out.py``) asserts it and the bench
(``bench/scale_out.py``) measures it: real processes started as a host starts
them (``citebot serve --shard-ids … --shard-count …``, pointed at the Discord
stand-in by ``tests/cli_child.py``), each running some shards of one bot, all
reaching the same stand-in, data directory and log. Nothing in a process is
patched; only Discord is a stand-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord

from tests.discord_standin import Captured, DiscordStandin, Guild
from tests.paths import ROOT, TESTS

CHILD = TESTS / "cli_child.py"
MANAGE_GUILD = discord.Permissions(manage_guild=True).value
JULI = "Which buildings did the crowd in Juli set on fire?"
JULI_ANSWER = "set fire to judicial office buildings"

GLACIER_TITLE = "The shrinking glacier of Pastoruri"
GLACIER = f"""---
title: {GLACIER_TITLE}
author: A. Reporter
---

The Pastoruri glacier in the Cordillera Blanca has lost half of its ice since 1980, and
guides now lead climate walks across the bare rock where the ice used to be.

Villagers below the glacier fear for the water that feeds their potato fields.
"""
GLACIER_Q = "How much ice has the Pastoruri glacier lost since 1980?"

CONDOR_TITLE = "Condors over the Colca canyon"
CONDOR_TEXT = ("Andean condors ride the morning thermals over the Colca canyon, where "
               "visitors gather at the Cruz del Condor lookout before nine.\n\n"
               "Rangers count the birds every spring to follow the population.")
CONDOR_Q = "Where do visitors watch the condors in the Colca canyon?"


@dataclass
class Host:
    """One ``citebot serve`` process and the lines it wrote to standard error."""

    name: str
    spec: str
    process: asyncio.subprocess.Process
    lines: list[tuple[float, str]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None
    started: float = field(default_factory=time.monotonic)

    @classmethod
    async def start(cls, name: str, spec: str, count: int, standin: DiscordStandin,
                    env: dict[str, str]) -> Host:
        """Start ``citebot -v serve --shard-ids SPEC --shard-count COUNT``."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), standin.base_url, standin.ws_url + "/", "-v", "serve",
            "--shard-ids", spec, "--shard-count", str(count),
            env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL)
        host = cls(name, spec, process)
        host.reader = asyncio.create_task(host._read())
        return host

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))

    def saw(self, pattern: str, after: float = 0.0) -> float | None:
        """When a line matching ``pattern`` was written (after ``after``), or None."""
        return next((at for at, line in self.lines if at >= after and re.search(pattern, line)),
                    None)

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def rss_mb(self) -> float:
        """The process's resident memory now (VmRSS)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status)[1]) / 1024  # type: ignore[index]

    async def kill(self) -> None:
        """``kill -9``: no shutdown, no flush."""
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        await self._drain()

    async def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as a host stops it; the exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), timeout)
        await self._drain()
        return self.process.returncode  # type: ignore[return-value]

    async def _drain(self) -> None:
        if self.reader is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self.reader, 10)


@dataclass
class Cluster:
    """The stand-in and the processes serving it from one data directory and log."""

    standin: DiscordStandin
    env: dict[str, str]
    count: int
    hosts: dict[str, Host] = field(default_factory=dict)

    @classmethod
    async def create(cls, data_dir: Path, log_url: str, shard_count: int = 4,
                     follow_seconds: float = 1.0) -> Cluster:
        """A stand-in with one server on each of ``shard_count`` shards, and the config
        every process will read (beside ``data_dir``): no cooldown, the log at ``log_url``,
        ``index.follow_seconds``."""
        config = data_dir.parent / "citebot.toml"
        config.write_text(f'[discord]\ncooldown_seconds = 0\n\n[logs]\nurl = "{log_url}"\n\n'
                          f'[index]\nfollow_seconds = {follow_seconds}\n', encoding="utf-8")
        standin = DiscordStandin(guilds=shard_count, shard_count=shard_count)
        await standin.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
        env.update(CITEBOT_DATA_DIR=str(data_dir), CITEBOT_CONFIG=str(config),
                   DISCORD_TOKEN=standin.token, PYTHONPATH=str(ROOT))
        return cls(standin, env, shard_count)

    async def start(self, name: str, spec: str) -> Host:
        host = await Host.start(name, spec, self.count, self.standin, self.env)
        self.hosts[name] = host
        return host

    async def start_two(self) -> tuple[Host, Host]:
        """The scenario's two processes: shards 0-1 and 2-3 of 4, all connected."""
        first = await self.start("first", "0-1")
        second = await self.start("second", "2-3")
        await self.ready(4)
        return first, second

    async def ready(self, shards: int, timeout: float = 240) -> float:
        """Wait until ``shards`` sessions are connected with their guilds; seconds waited."""
        started = time.monotonic()
        try:
            await self.standin.wait_shards(shards, timeout)
        except TimeoutError:
            raise AssertionError(self.describe()) from None
        await asyncio.sleep(0.5)  # the guilds reach the bot's cache just after
        return time.monotonic() - started

    def describe(self) -> str:
        """Every process's standard error, for a failure message."""
        return "\n".join(f"--- {h.name} ({h.spec}), exit {h.process.returncode}:\n{h.text()}"
                         for h in self.hosts.values())

    async def ask(self, guild: Guild | None, question: str, timeout: float = 60,
                  user: dict[str, Any] | None = None) -> tuple[Captured, dict[str, Any], float]:
        """Mention the bot with ``question`` in a guild's channel (None: a DM); the reply
        as sent, the message it became, and the seconds it took."""
        channel = self.standin.dm_channel(user or self.standin.alice) if guild is None \
            else guild.channel_id
        start = len(self.standin.requests)
        began = time.monotonic()
        await self.standin.say(question, mention_bot=guild is not None, guild=guild,
                               dm=guild is None, user=user)
        try:
            sent = await self.standin.wait_sent(channel, start=start, timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"no answer in {channel}\n{self.describe()}") from None
        took = time.monotonic() - began
        message = next(m for m in reversed(self.standin.messages.values())
                       if m["channel_id"] == channel
                       and m["author"]["id"] == self.standin.bot_user["id"])
        return sent, message, took

    def bot_posts(self, channel_id: str) -> list[Captured]:
        """The bot's posts in a channel so far."""
        return [c for c in self.standin.requests
                if c.method == "POST" and c.path == f"/channels/{channel_id}/messages"]

    async def cites(self, guild: Guild | None, question: str, title: str) -> bool:
        """Whether the answer to ``question`` there cites an article titled ``title``."""
        sent, _, _ = await self.ask(guild, question)
        return title in str(sent.json)

    async def until_cited(self, guild: Guild | None, question: str, title: str,
                          timeout: float = 30, cited: bool = True) -> float:
        """Ask again until the answer cites ``title`` (or, ``cited`` False, no longer
        does); seconds until it did. Raises AssertionError after ``timeout``."""
        began = time.monotonic()
        while await self.cites(guild, question, title) != cited:
            if time.monotonic() - began > timeout:
                raise AssertionError(f"{title!r} {'never' if cited else 'still'} cited after "
                                     f"{timeout} s\n{self.describe()}")
            await asyncio.sleep(0.2)
        return time.monotonic() - began

    async def add_article(self, guild: Guild, title: str, text: str) -> tuple[Captured, float]:
        """A moderator adds an article by text with ``/article add`` in ``guild``."""
        options = [{"name": "add", "type": 1, "options": [
            {"name": "text", "type": 3, "value": text},
            {"name": "title", "type": 3, "value": title}]}]
        began = time.monotonic()
        inter = await self.standin.slash("article", options, guild=guild,
                                         permissions=MANAGE_GUILD)
        _, followup = await self.standin.response(inter, timeout=120)
        assert followup is not None, self.describe()
        return followup, time.monotonic() - began

    async def close(self) -> None:
        for host in self.hosts.values():
            if host.process.returncode is None:
                host.process.kill()
                await host.process.wait()
            await host._drain()
        await self.standin.close()


async def run_cli(env: dict[str, str], *args: str, timeout: float = 300
                  ) -> tuple[int, str, float]:
    """``python -m citebot ARGS`` as a process (as a host runs it beside the bots): exit
    code, standard error, and when it ended (time.monotonic)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "citebot", *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, stderr.decode(errors="replace"), time.monotonic()


def button_ids(message: dict[str, Any]) -> dict[str, str]:
    """Button label -> custom id of a message the bot sent."""
    return {c["label"]: c["custom_id"] for row in message.get("components", [])
            for c in row["components"]}
