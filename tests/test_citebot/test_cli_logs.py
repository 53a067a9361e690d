"""`citebot ask` logging and the `citebot logs` commands, as real subprocesses."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture
def logged(run_cli, tmp_path: Path):  # type: ignore[no-untyped-def]
    """run_cli with the log in this test's own file."""
    log_path = tmp_path / "logs.sqlite"
    config = tmp_path / "citebot.toml"
    config.write_text(f'[logs]\npath = "{log_path}"\n', encoding="utf-8")

    def run(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return run_cli(*args, stdin=stdin, env={"CITEBOT_CONFIG": str(config)})

    run.log_path = log_path  # type: ignore[attr-defined]
    run.config = config  # type: ignore[attr-defined]
    return run


def count(path: Path, query: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(query).fetchone()[0])


def test_ask_logs_questions_and_logs_commands_read_them(logged, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Questions asked on the command line are logged (unless --no-log) and exported."""
    questions = "How many roadblocks were there?\nWhat is the recipe for paella?\n"
    result = logged("ask", "--json", "-", stdin=questions)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert logged("ask", "--no-log", "Who is Dina Boluarte?").returncode == 0
    assert count(logged.log_path, "SELECT COUNT(*) FROM questions") == 2

    exported = logged("logs", "export", "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["text"] for r in rows] == [a["question"] for a in answers]
    assert [r["answered"] for r in rows] == [a["answered"] for a in answers] == [True, False]
    assert rows[0]["mode"] == "command_line"
    assert rows[0]["model"].split("#")[0] == "all-MiniLM-L6-v2"
    assert [c["doc_id"] for c in rows[0]["citations"]] == [
        r["doc_id"] for r in answers[0]["results"]]

    as_csv = logged("logs", "export", "--format", "csv", "--since", "2000-01-01")
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["answered"] for r in table] == ["1", "0"]
    assert logged("logs", "export", "--since", "2999-01-01").stdout == ""

    stats = logged("logs", "stats", "--json")
    summary = json.loads(stats.stdout)
    assert (summary["questions"], summary["answered"]) == (2, 1)
    assert summary["coverage_gaps"] == [{"question": "What is the recipe for paella?",
                                         "times": 1}]
    chart = tmp_path / "chart.png"
    text = logged("logs", "stats", "--plot", str(chart))
    assert text.returncode == 0 and "Coverage gaps" in text.stdout
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_logs_commands_refuse_bad_input_clearly(logged, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A bad date, a non-SQLite log, a purge without days: one line, exit 1."""
    bad_date = logged("logs", "export", "--since", "last tuesday")
    assert bad_date.returncode == 1 and "is not a date" in bad_date.stderr
    no_days = logged("logs", "purge")
    assert no_days.returncode == 1 and "--days" in no_days.stderr
    logged.log_path.write_bytes(b"garbage" * 1000)
    broken = logged("logs", "stats")
    assert broken.returncode == 1 and "not an SQLite database" in broken.stderr
    assert "Traceback" not in broken.stderr
    # The answer still goes out when the log cannot be used.
    asked = logged("ask", "--json", "How many roadblocks were there?")
    assert asked.returncode == 0 and json.loads(asked.stdout)["answered"]
    assert "not being logged" in asked.stderr


def test_forget_and_purge_through_the_command_line(logged) -> None:  # type: ignore[no-untyped-def]
    """forget deletes the named user's rows; purge deletes old ones."""
    assert logged("ask", "How many roadblocks were there?").returncode == 0
    with sqlite3.connect(logged.log_path) as db:
        db.execute("UPDATE questions SET user = 'u42'")
    forgot = logged("logs", "forget", "u42")
    assert forgot.returncode == 0 and "deleted 1 rows" in forgot.stdout
    assert logged("ask", "How many roadblocks were there?").returncode == 0
    with sqlite3.connect(logged.log_path) as db:
        db.execute("UPDATE questions SET asked_at = '2001-01-01T00:00:00+00:00'")
    purged = logged("logs", "purge", "--days", "30")
    assert purged.returncode == 0 and "deleted 1 questions" in purged.stdout
    assert count(logged.log_path, "SELECT COUNT(*) FROM questions") == 0


def test_sigterm_mid_stream_loses_no_answered_question(logged, shared_data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """Every answer printed before SIGTERM is in the log afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env.update({"CITEBOT_DATA_DIR": str(shared_data_dir), "CITEBOT_CONFIG": str(logged.config)})
    process = subprocess.Popen(
        [sys.executable, "-m", "citebot", "ask", "--json", "-"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert process.stdin is not None and process.stdout is not None
    printed = []
    for n in range(5):
        process.stdin.write(f"What happened in Juliaca, part {n}?\n")
        process.stdin.flush()
        printed.append(json.loads(process.stdout.readline()))
    for n in range(20):  # more questions in flight when the signal arrives
        process.stdin.write(f"How many roadblocks were there, take {n}?\n")
    process.stdin.flush()
    process.send_signal(signal.SIGTERM)
    rest, errors = process.communicate(timeout=60)
    printed += [json.loads(line) for line in rest.splitlines()]
    assert process.returncode == 143, errors
    assert "log is flushed" in errors
    with sqlite3.connect(logged.log_path) as db:
        stored = [r[0] for r in db.execute("SELECT text FROM questions ORDER BY rowid")]
    assert stored == [a["question"] for a in printed] and len(stored) >= 5
