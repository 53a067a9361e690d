"""The citebot command as a user runs it: real model, real index on disk; in this process
(``run_cli``), and once as a subprocess (``run_cli_process``)."""

import json
from pathlib import Path

import pytest

from index.retrieval.store import IndexStore
from tests import paths

LONG_QUESTION = "why " * 25_600  # 100 KB


def test_ask_prints_numbered_citations(run_cli_process) -> None:
    """Human output: numbered quotes with the best sentence marked, title, author, paragraph
    (as a real process: the command exactly as the operating system runs it)."""
    result = run_cli_process("ask", "How did a soldier lose his life near Ilave?")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("[1] Rural-Based Popular Resistance")
    assert "**" in result.stdout and "one soldier drowned" in result.stdout
    assert "W.T. Whitney Jr. · article, paragraph 11" in result.stdout
    assert "Traceback" not in result.stderr


def test_ask_json_is_one_object(run_cli) -> None:
    """--json prints exactly one JSON object with the contract's keys."""
    result = run_cli("ask", "--json", "--top-k", "2", "How", "many", "roadblocks?")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["question"] == "How many roadblocks?" and obj["answered"] is True
    assert len(obj["results"]) <= 2 and "83 roadblocks" in obj["results"][0]["text"]


def test_ask_json_from_stdin_keeps_order(run_cli) -> None:
    """One question per line in, one JSON object per line out, in order, errors included."""
    questions = ["How many roadblocks were there?", "", "How do I bake bread?",
                 "Who captured soldiers?"]
    result = run_cli("ask", "--json", "-", stdin="\n".join(questions) + "\n")
    assert result.returncode == 0, result.stderr
    objs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["question"] for o in objs] == questions
    assert [o["answered"] for o in objs] == [True, False, False, True]
    assert "empty" in objs[1]["error"]


def test_unrelated_question_says_so(run_cli) -> None:
    """An off-topic question gets a polite 'nothing relevant' and no passages."""
    result = run_cli("ask", "What is the capital of Australia?")
    assert result.returncode == 0
    assert "No passage in the corpus answers" in result.stdout
    assert "[1]" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "   "], "the question is empty"),
        (["ask", "\x01\x02\x1b"], "the question is empty"),
        (["ask", LONG_QUESTION], "please ask in at most 1,000 characters"),
        (["ask", "--top-k", "0", "why?"], "--top-k must be between 1 and 50"),
        (["--config", "/nonexistent/citebot.toml", "ask", "why?"], "does not exist"),
    ],
)
def test_bad_input_gets_one_line_and_nonzero_exit(run_cli, args, message) -> None:
    """Each bad input is one clear line on stderr, exit 1, no traceback."""
    result = run_cli(*args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_question_in_another_script_is_handled(run_cli) -> None:
    """A Japanese question is answered or politely declined, never a crash."""
    result = run_cli("ask", "--json", "ペルーで何が起きていますか")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["question"] == "ペルーで何が起きていますか"


def test_corrupt_index_is_rebuilt_by_ask(run_cli, tmp_path: Path) -> None:
    """A damaged index file is detected, reported and rebuilt; the answer still comes."""
    env = {"CITEBOT_DATA_DIR": str(tmp_path)}
    assert run_cli("index", env=env).returncode == 0
    store = IndexStore(tmp_path)
    segment = json.loads(store.manifest_path().read_text())["segments"][0]["name"]
    (store.root / segment / "vectors.faiss").write_bytes(b"not a faiss file")
    result = run_cli("ask", "--json", "How many roadblocks were there?", env=env)
    assert result.returncode == 0, result.stderr
    assert "damaged" in result.stderr
    assert json.loads(result.stdout)["answered"] is True
    assert "up to date" in run_cli("index", env=env).stdout


def test_data_dir_that_is_a_file_is_a_clear_error(run_cli, tmp_path: Path) -> None:
    """A data directory path that is a file gets a one-line error."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("ask", "why?", env={"CITEBOT_DATA_DIR": str(blocker)})
    assert result.returncode == 1 and "is a file, not a folder" in result.stderr


def test_malformed_and_unreadable_corpus_files(run_cli, tmp_path: Path) -> None:
    """A corpus file with bad front matter, or one that cannot be read, is named in one line."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bad.md").write_text("---\ntitle: [oops\n---\ntext\n", encoding="utf-8")
    config = tmp_path / "c.toml"
    config.write_text(f'[corpus]\ndirs = ["{corpus}"]\n', encoding="utf-8")
    env = {"CITEBOT_DATA_DIR": str(tmp_path / "d"), "CITEBOT_CONFIG": str(config)}
    result = run_cli("ask", "why?", env=env)
    assert result.returncode == 1
    assert "bad.md: malformed front matter" in result.stderr
    (corpus / "bad.md").unlink()
    (corpus / "locked.md").mkdir()  # a directory where a file should be: unreadable
    result = run_cli("ask", "why?", env=env)
    assert result.returncode == 1 and "cannot read corpus file" in result.stderr


def test_eval_json_on_a_small_collection(run_cli) -> None:
    """citebot eval --json prints one object with the three runs."""
    data = paths.DATA / "tinycran"
    result = run_cli("eval", "--collection", str(data), "--json")
    assert result.returncode == 0, result.stderr
    obj = json.loads(result.stdout)
    assert obj["collection"] == "tinycran"
    assert set(obj["runs"]) == {"bm25", "dense", "fused"}
    assert all(set(r) == {"ndcg@10", "mrr@10", "recall@100"} for r in obj["runs"].values())


def test_eval_missing_collection(run_cli, tmp_path: Path) -> None:
    """A missing collection folder is a one-line error."""
    result = run_cli("eval", "--collection", str(tmp_path / "none"))
    assert result.returncode == 1 and "does not exist" in result.stderr


def test_ask_from_stdin_without_json_prints_each_answer(run_cli) -> None:
    """`citebot ask -` in human form prints every question with its citations, in order."""
    result = run_cli("ask", "-", stdin="Who captured soldiers?\n\nHow many roadblocks?\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("Q: Who captured soldiers?") < out.index("Q: How many roadblocks?")
    assert "the question is empty" in out and "83 roadblocks" in out
