"""The incremental BM25 index: the same scores as bm25s, before and after adds and removes."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import pytest
import Stemmer

from index.retrieval.keyword import MAX_BLOCKS, KeywordIndex, load_terms, save_terms, tokenize

TEXTS = [
    "The llamas of Peru carry loads across the plateau",
    "Alpaca wool is sheared each spring in Puno",
    "Protesters blocked the roads to Juliaca and Puno; the roads stayed closed",
    "",
    "Quinoa grows at altitude around Lake Titicaca",
]
QUERIES = ["roads Puno", "llamas llamas plateau", "wool shearing spring", "nothing matches here"]


def reference_scores(texts: list[str], query: str) -> np.ndarray:
    stemmer = Stemmer.Stemmer("english")
    model = bm25s.BM25(k1=1.2, b=0.75)
    model.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
                show_progress=False)
    tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, show_progress=False,
                            return_ids=False)[0]
    return np.asarray(model.get_scores(tokens)) if tokens else np.zeros(len(texts))


def test_scores_equal_bm25s() -> None:
    """Built in one go, every score matches bm25s's Lucene BM25."""
    index = KeywordIndex(TEXTS)
    for query in QUERIES:
        np.testing.assert_allclose(index.scores(query), reference_scores(TEXTS, query),
                                   rtol=1e-5, atol=1e-6)


def test_adds_and_retirements_equal_a_fresh_index() -> None:
    """Grown piecemeal with a retired text, the live scores equal an index of the live texts."""
    index = KeywordIndex(TEXTS[:2])
    index.add(["roads roads roads Puno junk"])
    index.add(TEXTS[2:])
    index.retire([2])
    index.retire([2])  # retiring twice changes nothing
    for query in QUERIES:
        scores = index.scores(query)
        assert scores[2] == 0.0
        np.testing.assert_allclose(np.delete(scores, 2), reference_scores(TEXTS, query),
                                   rtol=1e-5, atol=1e-6)


def test_empty_and_fully_retired_indexes_score_zero() -> None:
    """No texts, or only retired ones: zeros of the right length, no division by zero."""
    assert KeywordIndex().scores("llamas").shape == (0,)
    index = KeywordIndex(TEXTS[:1])
    index.retire([0])
    assert index.scores("llamas").tolist() == [0.0]


def test_many_small_adds_merge_into_blocks_and_still_equal_bm25s() -> None:
    """Adds past MAX_BLOCKS (small blocks merged), tokens added as stored, retirements."""
    texts = [f"{TEXTS[i % len(TEXTS)]} extra{i % 3} word{i}" for i in range(30)]
    index = KeywordIndex(texts[:10])
    for text in texts[10:25]:
        index.add([text])
    assert len(index._blocks) <= MAX_BLOCKS
    index.add_tokens(index.tokenize(texts[25:]))
    index.retire([3, 12, 27])
    live = [t for i, t in enumerate(texts) if i not in (3, 12, 27)]
    for query in [*QUERIES, "extra1 word12", "word27 roads"]:
        scores = index.scores(query)
        assert scores[[3, 12, 27]].tolist() == [0.0, 0.0, 0.0]
        np.testing.assert_allclose(np.delete(scores, [3, 12, 27]), reference_scores(live, query),
                                   rtol=1e-5, atol=1e-6)


def test_tokens_round_trip_through_a_file_and_select_rows(tmp_path: Path) -> None:
    texts = [*TEXTS, "Ñandú sightings near Putina, ¿verdad?", ""]
    tokens = tokenize(texts)
    save_terms(tokens, tmp_path / "terms")
    stored = load_terms(tmp_path / "terms", len(texts))
    loaded = stored.tokens()
    assert loaded.vocab == tokens.vocab and len(loaded) == len(texts)
    for name in ("offsets", "terms", "counts"):
        assert np.array_equal(getattr(loaded, name), getattr(tokens, name))
    picked = loaded.select([5, 0, 3])
    index = KeywordIndex()
    index.add_tokens(picked)
    for query in ["sightings Putina", "llamas plateau"]:
        np.testing.assert_allclose(index.scores(query),
                                   KeywordIndex([texts[5], texts[0], texts[3]]).scores(query))
    # The stored postings, adopted as they are, score as an index built from the texts.
    adopted = KeywordIndex()
    adopted.adopt(stored)
    adopted.retire([2])
    built = KeywordIndex(texts)
    built.retire([2])
    for query in [*QUERIES, "sightings Putina"]:
        np.testing.assert_allclose(adopted.scores(query), built.scores(query), rtol=1e-6)
    adopted.add(["Llamas again near Putina"])
    built.add(["Llamas again near Putina"])
    np.testing.assert_allclose(adopted.scores("llamas Putina"), built.scores("llamas Putina"),
                               rtol=1e-6)
    with pytest.raises(ValueError):
        load_terms(tmp_path / "terms", len(texts) + 1)
    (tmp_path / "terms" / "docs.npy").write_bytes(b"not a numpy file")
    with pytest.raises((OSError, ValueError)):
        load_terms(tmp_path / "terms", len(texts))
    save_terms(tokens, tmp_path / "terms")
    whole = (tmp_path / "terms" / "tf.npy").read_bytes()
    (tmp_path / "terms" / "tf.npy").write_bytes(whole[: len(whole) // 2])
    with pytest.raises((OSError, ValueError)):
        load_terms(tmp_path / "terms", len(texts))


def test_tokens_read_back_from_the_index_equal_tokenizing_again() -> None:
    """A compaction stores the live texts' terms taken from the index, not re-tokenized."""
    index = KeywordIndex(TEXTS[:3])
    index.add(TEXTS[3:])
    index.retire([1])
    rebuilt = KeywordIndex()
    rebuilt.add_tokens(index.tokens([0, 2, 3, 4]))
    fresh = KeywordIndex([TEXTS[0], *TEXTS[2:]])
    for query in QUERIES:
        np.testing.assert_allclose(rebuilt.scores(query), fresh.scores(query), rtol=1e-6)
