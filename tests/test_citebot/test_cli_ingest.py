"""`citebot add/list/remove` as a user runs them: in process, a local page server, and real
processes killed mid-add."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from index.articles.library import Library
from index.config import load_settings
from index.crashpoints import ENV as CRASH_ENV
from index.crashpoints import POINTS
from index.retrieval.store import IndexStore
from tests import paths
from tests.conftest import cli_in_process
from tests.pages import make_pdf, page_server

ROOT = paths.ROOT


def snapshot(data_dir: Path) -> list[str]:
    """Every file under the data directory with its size, except the embedding cache and the
    conversation log (a refused add is logged there, as every moderation action is)."""
    return sorted(f"{p.relative_to(data_dir)}:{p.stat().st_size}" for p in data_dir.rglob("*")
                  if p.is_file() and not p.name.startswith(("embeddings.sqlite", "logs.sqlite")))


@pytest.fixture
def cli(tmp_path: Path, shared_data_dir: Path, engine,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch):
    """Run citebot (in this process) with its own data dir, seeded with the shared index,
    and the loopback exemption unless ``allow=False``."""
    data = tmp_path / "data"
    subprocess.run(["cp", "-r", str(shared_data_dir), str(data)], check=True)
    config = tmp_path / "citebot.toml"
    config.write_text("[ingest]\nfetch_timeout = 1.0\n", encoding="utf-8")
    in_process = cli_in_process(monkeypatch, {"CITEBOT_DATA_DIR": str(data),
                                              "CITEBOT_CONFIG": str(config)})

    def run(*args: str, stdin: str | None = None, allow: bool = True, timeout: float = 180
            ) -> subprocess.CompletedProcess[str]:
        return in_process(*args, stdin=stdin,
                          env={"CITEBOT_ALLOW_HOSTS": "127.0.0.1"} if allow else None)

    run.data = data  # type: ignore[attr-defined]
    return run


def test_add_list_ask_remove_round_trip(cli) -> None:  # type: ignore[no-untyped-def]
    """A served page is added, listed, answers at once, and is removed again."""
    with page_server() as base:
        added = cli("add", f"{base}/pages/llamas.html")
    assert added.returncode == 0, added.stderr
    assert "added 'llamas-of-the-altiplano-" in added.stdout and "Ana Quispe" in added.stdout
    listed = [json.loads(line) for line in cli("list", "--json").stdout.splitlines()]
    ours = [a for a in listed if a["title"] == "Llamas of the Altiplano"]
    assert len(ours) == 1 and ours[0]["comments"] == 3 and not ours[0]["bundled"]
    answer = json.loads(cli("ask", "--json", "When do herders shear the wool?").stdout)
    assert answer["results"][0]["doc_id"] == ours[0]["doc_id"]
    removed = cli("remove", ours[0]["doc_id"])
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert ours[0]["doc_id"] not in cli("list").stdout
    assert cli("remove", ours[0]["doc_id"]).returncode == 1
    with sqlite3.connect(cli.data / "logs.sqlite") as db:
        actions = db.execute("SELECT action, result, doc_id, user FROM moderation ORDER BY id")
        logged = [row[:3] for row in actions]
    assert logged == [("add", "done", ours[0]["doc_id"]), ("remove", "done", ours[0]["doc_id"]),
                      ("remove", "refused", "")]


def test_scoped_add_is_invisible_elsewhere(cli) -> None:  # type: ignore[no-untyped-def]
    """Pasted text for scope 42 is cited with --scope 42 and never with another scope."""
    text = ("The Macusani alpaca festival lasted a full week this year and drew weavers "
            "from three provinces.")
    assert cli("add", "-", "--title", "Festival", "--scope", "42", stdin=text).returncode == 0
    question = "How long did the Macusani alpaca festival last?"
    inside = json.loads(cli("ask", "--json", "--scope", "42", question).stdout)
    assert inside["results"][0]["title"] == "Festival"
    outside = json.loads(cli("ask", "--json", "--scope", "43", question).stdout)
    assert all(r["title"] != "Festival" for r in outside["results"])


@pytest.mark.parametrize(
    ("source", "allow", "message"),
    [
        ("/status/404", True, "answered 404"),
        ("/status/500", True, "answered 500"),
        ("/slow", True, "timed out after 1 s"),
        ("/huge", True, "larger than 5 MB"),
        ("/png", True, "image/png"),
        ("/empty", True, "too little text to cite"),
        ("/redirect?to=http://10.0.0.1/secret", True, "10.0.0.1 is a private address"),
        ("/pages/llamas.html", False, "127.0.0.1 is a loopback address"),
        ("file:///etc/passwd", True, "only http and https"),
        ("javascript:alert(1)", True, "only http and https"),
        ("ftp://example.org/a.txt", True, "only http and https"),
        ("http://10.0.0.1/", True, "10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", True, "link-local address"),
        ("http://localhost/", True, "localhost is a loopback host"),
    ],
)
def test_refused_sources_change_nothing(cli, source: str, allow: bool,  # type: ignore[no-untyped-def]
                                        message: str) -> None:
    """Each refused URL gets one clear line, a non-zero exit, and leaves the data as it was."""
    before = snapshot(cli.data)
    with page_server() as base:
        url = f"{base}{source}" if source.startswith("/") else source
        result = cli("add", url, allow=allow)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(cli.data) == before


def test_refused_files_change_nothing(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A blank PDF, a corrupt PDF, a Latin-1 file, pasted text without a title, an unknown id."""
    blank = tmp_path / "blank.pdf"
    blank.write_bytes(make_pdf([]))
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.4\ngarbage")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Caf\xe9 con le\xf1a y m\xe1s texto.".encode("latin-1"))
    before = snapshot(cli.data)
    cases = [
        (("add", str(blank)), "no text layer"),
        (("add", str(corrupt)), "not a readable PDF"),
        (("add", str(latin)), "not UTF-8"),
        (("add", "-"), "pasted text needs a title"),
        (("remove", "no-such-article"), "no article with id 'no-such-article'"),
        (("remove", "peru-rural-resistance"), "cannot be removed"),
    ]
    for args, message in cases:
        result = cli(*args, stdin="some pasted words")
        assert result.returncode == 1, args
        assert message in result.stderr and "Traceback" not in result.stderr, args
    assert snapshot(cli.data) == before


def _big_article(path: Path) -> None:
    words = ["river", "bridge", "market", "harvest", "llama",
             "wool", "road", "school", "clinic", "water"]
    paragraphs = []
    for i in range(300):
        sentence = " ".join(words[(i + j) % len(words)] for j in range(12))
        paragraphs.append(f"Paragraph {i} reports that {sentence}. Number {i} ends here.")
    path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")


@pytest.mark.parametrize("point", POINTS)
def test_killed_add_leaves_a_consistent_state(cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                              point: str) -> None:
    """SIGKILL at each step of an add: the next start finds corpus and index in agreement."""
    source = tmp_path / "big.txt"
    _big_article(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env["CITEBOT_DATA_DIR"] = str(cli.data)
    env[CRASH_ENV] = point  # the process kills itself there (index/crashpoints.py)
    process = subprocess.run([sys.executable, "-m", "citebot", "add", str(source), "--title",
                              "Big report"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, timeout=300)
    assert process.returncode == -signal.SIGKILL  # it did reach the point
    assert cli("index").returncode == 0  # the next start
    settings = load_settings(environ={"CITEBOT_DATA_DIR": str(cli.data)})
    docs = {d.doc_id for d in Library(settings).documents()}
    indexed = {p.doc_id for p in IndexStore(cli.data).load().passages.values()}
    assert indexed == docs
    present = any(d.startswith("big-report-") for d in docs)
    answer = json.loads(cli("ask", "--json", "What does paragraph 150 report?").stdout)
    assert present == any(r["title"] == "Big report" for r in answer["results"])
