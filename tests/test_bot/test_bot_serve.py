"""``citebot serve`` and ``sync`` as processes: a clear error without a token, a clean exit
on SIGTERM, commands published globally."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from index.retrieval.engine import Engine
from tests import paths
from tests.conftest import ROOT
from tests.discord_standin import DiscordStandin

CHILD = paths.TESTS / "cli_child.py"
JULI = "Which buildings did the crowd in Juli set on fire?"


def test_serve_without_a_token_says_how_to_get_one(run_cli) -> None:  # type: ignore[no-untyped-def]
    """No DISCORD_TOKEN and none in the config: exit 1 with where to find one."""
    result = run_cli("serve", env={"DISCORD_TOKEN": ""})
    assert result.returncode == 1
    assert "no Discord bot token: set DISCORD_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.asyncio
async def test_bot_serve_answers_then_sigterm_flushes_the_log(
        tmp_path: Path, shared_data_dir: Path, engine: Engine) -> None:
    """The real command connects, answers a mention, and on SIGTERM closes with the question
    logged and exit code 0."""
    data = tmp_path / "data"
    # The index, not the log other tests wrote there: this test counts its own rows.
    shutil.copytree(shared_data_dir, data, ignore=shutil.ignore_patterns("logs.sqlite*"))
    config = tmp_path / "citebot.toml"
    config.write_text("[discord]\ncooldown_seconds = 0\n", encoding="utf-8")
    standin = DiscordStandin()
    await standin.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env.update(CITEBOT_DATA_DIR=str(data), CITEBOT_CONFIG=str(config),
               DISCORD_TOKEN=standin.token, PYTHONPATH=str(ROOT))
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), standin.base_url, standin.ws_url + "/", "serve",
        env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE)
    try:
        await asyncio.wait_for(standin._ready.wait(), 120)
        await asyncio.sleep(0.5)  # the guilds arrive just after READY
        start = len(standin.requests)
        await standin.say(JULI, mention_bot=True)
        sent = await standin.wait_sent(standin.guild.channel_id, start=start, timeout=60)
        assert "set fire to judicial office buildings" in str(sent.json["embeds"])
        child.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(child.communicate(), 60)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await standin.close()
    assert child.returncode == 0, stderr.decode()[-2000:]
    with sqlite3.connect(data / "logs.sqlite") as db:
        rows = db.execute("SELECT mode, text, guild, message_id FROM questions").fetchall()
    assert rows == [("mention", JULI, standin.guild.id, str(sent_message_id(standin)))]


def sent_message_id(standin: DiscordStandin) -> str:
    """The id the stand-in gave the bot's answer."""
    return next(m["id"] for m in reversed(standin.messages.values())
                if m["author"]["id"] == standin.app_id and m["embeds"])


@pytest.mark.asyncio
async def test_bot_sync_publishes_every_command_globally(tmp_path: Path) -> None:
    """``citebot sync`` logs in, publishes the command tree globally and says what it synced."""
    standin = DiscordStandin()
    await standin.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env.update(CITEBOT_DATA_DIR=str(tmp_path / "data"), DISCORD_TOKEN=standin.token,
               PYTHONPATH=str(ROOT))
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), standin.base_url, standin.ws_url + "/", "sync",
            env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(child.communicate(), 120)
    finally:
        await standin.close()
    assert child.returncode == 0, stderr.decode()[-2000:]
    names = {(c["name"], c.get("type", 1)) for c in standin.commands["global"]}
    assert {("ask", 1), ("article", 1), ("sources", 1), ("stats", 1), ("help", 1),
            ("annotate", 1), ("Find sources", 3)} == names
    assert "synced 7 commands globally" in stdout.decode()
    assert not (tmp_path / "data" / "index").exists()  # no model or index was loaded for it


@pytest.mark.asyncio
@pytest.mark.parametrize("command", ["serve", "sync"])
async def test_a_refused_token_exits_3_with_one_line(tmp_path: Path, command: str) -> None:
    """Discord answers 401 to the token: one line saying where to get a new one, exit 3,
    no traceback, no "internal error" (and no model is loaded first)."""
    standin = DiscordStandin()
    await standin.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env.update(CITEBOT_DATA_DIR=str(tmp_path / "data"), DISCORD_TOKEN="an.old.token",
               PYTHONPATH=str(ROOT))
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), standin.base_url, standin.ws_url + "/", command,
            env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(child.communicate(), 120)
    finally:
        await standin.close()
    lines = stderr.decode().strip().splitlines()
    assert child.returncode == 3, lines
    assert len(lines) == 1 and lines[0].startswith("citebot: error: Discord refused the bot "
                                                   "token (401 Unauthorized)")
    assert "Bot > Reset Token" in lines[0] and "internal error" not in lines[0]
    assert not (tmp_path / "data" / "index").exists()
