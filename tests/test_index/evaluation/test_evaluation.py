"""Evaluation: collection parsing (SMART and BEIR quirks), metrics, and a real small run."""

import math
from pathlib import Path

import pytest

from index.config import SearchSettings
from index.errors import CollectionError
from index.evaluation import evaluate, load_collection, mrr_at, ndcg_at, recall_at
from index.retrieval.embedder import Encoder
from tests import paths

DATA = paths.DATA


def test_metrics_by_hand() -> None:
    """nDCG, MRR and recall agree with hand-computed values."""
    rels = {"a": 2, "b": 1}
    ranked = ["x", "a", "b"]
    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at(ranked, rels) == pytest.approx(dcg / idcg)
    assert mrr_at(ranked, rels) == pytest.approx(0.5)
    assert recall_at(ranked, rels, k=2) == pytest.approx(0.5)
    assert ndcg_at([], rels) == 0.0


def test_smart_collection_quirks() -> None:
    """Stray fields before .I are ignored; Cranfield judgments number queries by position."""
    c = load_collection(DATA / "tinycran")
    assert c.doc_ids == ["1", "2", "3", "4"]
    # Query .I 004 is the third query in the file, judged as query 3.
    assert c.queries["3"].startswith("how do wings stall")
    # Grade 1 (most relevant) becomes gain 4; -1 is dropped.
    assert c.qrels["1"] == {"1": 4, "2": 1}
    assert "4" not in c.qrels.get("2", {})


def test_beir_collection() -> None:
    """BEIR folders read corpus, queries and the chosen split, skipping the header."""
    c = load_collection(DATA / "tinybeir")
    assert set(c.queries) == {"q1", "q2"}
    assert c.qrels["q1"] == {"d1": 1}
    train = load_collection(DATA / "tinybeir", "train")
    assert set(train.queries) == {"q3"}


def test_missing_collection_parts_are_clear_errors(tmp_path: Path) -> None:
    """A folder without the expected files is refused with a message."""
    with pytest.raises(CollectionError, match="does not exist"):
        load_collection(tmp_path / "nope")
    with pytest.raises(CollectionError, match="no documents"):
        load_collection(tmp_path)


def test_evaluate_real_model_small_collection(embedder: Encoder) -> None:
    """All three runs are scored, and on this easy set the fused run ranks perfectly."""
    result = evaluate(load_collection(DATA / "tinybeir"), embedder, None, SearchSettings())
    assert result["collection"] == "tinybeir"
    runs = result["runs"]
    assert set(runs) == {"bm25", "dense", "fused"}
    for run in runs.values():
        assert set(run) == {"ndcg@10", "mrr@10", "recall@100"}
    assert runs["fused"]["mrr@10"] == 1.0
