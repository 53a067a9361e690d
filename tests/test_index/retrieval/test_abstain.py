"""Abstention near the topic: claims about neighbouring but unrelated things get no sources."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from index.retrieval.embedder import Encoder
from index.retrieval.engine import Engine
from tests import paths
from tests.conftest import make_settings

ROOT = paths.ROOT
NEAR_TOPIC = [json.loads(line) for line in
              (ROOT / "bench" / "data" / "near_topic.jsonl").read_text("utf-8").splitlines()
              if line.strip()]

# Held-out near-topic claims (never used to calibrate) that the calibrated default must
# leave unanswered; docs/calibration.md lists the held-out ones it still answers.
ABSTAINED = [
    "¿Cómo se visitan las islas flotantes de los Uros?",
    "How do you make a pisco sour at home?",
    "What did Biden say about student loan forgiveness?",
]


def test_near_topic_claims_get_no_sources(engine: Engine) -> None:
    """Tourism near Puno, Peruvian drinks, US politics: answered=false, nothing cited."""
    held_out = {item["question"] for item in NEAR_TOPIC if item["split"] == "held_out"}
    for question in ABSTAINED:
        assert question in held_out
        answer = engine.ask(question)
        assert (answer.answered, answer.results) == (False, ()), question


def test_near_topic_set_has_a_fixed_split() -> None:
    """About 25 claims, half for calibration and half held out, in English and Spanish."""
    splits = [item["split"] for item in NEAR_TOPIC]
    assert len(NEAR_TOPIC) >= 24 and set(splits) == {"calibration", "held_out"}
    assert abs(splits.count("calibration") - splits.count("held_out")) <= 1
    assert any(item["question"].startswith("¿") for item in NEAR_TOPIC)


def test_calibration_script_scores_questions_as_the_searcher_does(
        tmp_path: Path, embedder: Encoder) -> None:
    """bench/calibrate_abstain.py runs on today's index API and agrees with the searcher."""
    spec = importlib.util.spec_from_file_location(
        "calibrate_abstain", ROOT / "bench" / "calibrate_abstain.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = [{"question": "How many soldiers disappeared in the river?", "answerable": True,
             "group": "calibration"},
            {"question": "How do you make a pisco sour at home?", "answerable": False,
             "group": "near-held_out"}]
    settings = make_settings(tmp_path / "data")
    scores = bench.corpus_scores(settings, embedder, rows)
    assert scores.shape == (2, len(bench.PENALTIES)) and np.isfinite(scores).all()
    assert scores[0, 0] >= settings.search.min_score > scores[1, 0]
    assert bench.question_names("Why did Ecuador's Lasso go to Washington?") == [
        "ecuador", "lasso", "washington"]
