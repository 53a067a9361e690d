"""Search on the bundled corpus with the real model: citations, highlights, abstention, JSON."""

import json

import pytest

from index.errors import QuestionError
from index.retrieval.engine import Engine
from index.retrieval.questions import MAX_QUESTION_CHARS, clean_question
from index.retrieval.search import _overlaps
from tests import paths

ROOT = paths.ROOT
QUESTIONS = [json.loads(line) for line in
             (ROOT / "bench" / "data" / "seed_questions.jsonl").read_text().splitlines() if line]


def test_answer_cites_the_passage_and_highlights_the_sentence(engine: Engine) -> None:
    """A paraphrased question finds its passage first and marks the answering sentence."""
    answer = engine.ask("Which buildings did the crowd in Juli set on fire?")
    assert answer.answered
    top = answer.results[0]
    assert "set fire to judicial office buildings" in top.passage.text
    assert "set fire to judicial office buildings" in top.highlight
    assert top.highlight == top.passage.text[top.highlight_start:top.highlight_end]
    assert top.passage.title.startswith("Rural-Based Popular Resistance")
    assert (top.passage.author, top.passage.kind) == ("W.T. Whitney Jr.", "article")


def test_reader_comment_is_cited_as_a_comment(engine: Engine) -> None:
    """A question answered by a comment says it is a reader comment, and by whom."""
    answer = engine.ask("What does Cassiodorus think about capitalism and the environment?")
    top = answer.results[0]
    assert top.passage.kind == "comment" and top.passage.author == "Cassiodorus"
    assert top.to_json()["kind"] == "comment"


@pytest.mark.parametrize(
    "item", [q for q in QUESTIONS if not q["expect"]], ids=lambda q: q["question"][:30],
)
def test_unrelated_questions_are_not_answered(engine: Engine, item: dict) -> None:
    """Off-topic questions get answered=false and no passages at all."""
    answer = engine.ask(item["question"])
    assert not answer.answered and answer.results == ()


def _seed_misses(engine: Engine) -> list[str]:
    misses = []
    for item in QUESTIONS:
        if not item["expect"]:
            continue
        texts = [c.passage.text for c in engine.ask(item["question"]).results[:3]]
        if not any(e in t for t in texts for e in item["expect"]):
            misses.append(item["question"])
    return misses


def test_seed_questions_do_not_regress(engine: Engine) -> None:
    """At least 80% of answerable seed questions have their passage in the top 3 (now 29/35)."""
    answerable = sum(1 for q in QUESTIONS if q["expect"])
    assert len(_seed_misses(engine)) <= answerable * 0.2


@pytest.mark.xfail(strict=True, reason="target not met yet: 6 of 35 miss the top 3 (README)")
def test_seed_question_set_meets_its_target(engine: Engine) -> None:
    """The issue's target: every answerable seed question has its passage in the top 3."""
    assert _seed_misses(engine) == []


def test_results_never_repeat_or_overlap(engine: Engine) -> None:
    """No two citations of one answer share text or overlap in the same file."""
    for question in ("Why are people protesting in Peru?", "What did Castillo do?"):
        results = engine.ask(question, top_k=10).results
        for i, a in enumerate(results):
            for b in results[i + 1:]:
                assert not _overlaps(a.passage, b.passage)


def test_json_contract(engine: Engine) -> None:
    """to_json has exactly the documented keys and types."""
    obj = engine.ask("How many roadblocks were there?", top_k=2).to_json()
    assert set(obj) == {"question", "answered", "results"}
    assert obj["answered"] is True and 1 <= len(obj["results"]) <= 2
    for rank, r in enumerate(obj["results"], 1):
        assert set(r) == {"rank", "score", "text", "highlight", "doc_id", "title", "author",
                          "kind", "paragraph", "url"}
        assert r["rank"] == rank and isinstance(r["score"], float)
        assert r["kind"] in ("article", "comment") and isinstance(r["paragraph"], int)
        assert r["highlight"] in r["text"]
    scores = [r["score"] for r in obj["results"]]
    assert scores == sorted(scores, reverse=True)


def test_question_cleaning() -> None:
    """Control characters become spaces; empty and oversized questions are refused."""
    assert clean_question("why\x00 the\tprotests?\x1b") == "why the protests?"
    with pytest.raises(QuestionError, match="empty"):
        clean_question(" \x00\u200b ")
    with pytest.raises(QuestionError, match="at most"):
        clean_question("x" * (MAX_QUESTION_CHARS + 1))


def test_question_in_another_script_gets_an_answer_object(engine: Engine) -> None:
    """A question in Japanese is searched without error, by the multilingual leg: answered,
    every citation at that leg's own abstain threshold."""
    answer = engine.ask("ペルーの抗議活動について教えてください")
    assert answer.question == "ペルーの抗議活動について教えてください"
    assert answer.answered
    assert all(c.similarity >= engine.settings.search.multilingual_min_score
               for c in answer.results)
