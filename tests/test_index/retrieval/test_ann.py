"""The vector-index seam: the flat and approximate indexes behind ``VectorIndex``, and faiss
kept behind it."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from index.errors import IndexCorruptError
from index.retrieval.ann import FlatIndex, IvfIndex, VectorIndex, grow, load_index
from index.retrieval.ann.ivf import probes_for, shape
from tests import paths

ROOT = paths.ROOT


def _unit(rows: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_flat_index_searches_exactly_within_the_admitted_rows(tmp_path: Path) -> None:
    vectors = _unit(50)
    index = FlatIndex.from_vectors(vectors)
    assert isinstance(index, VectorIndex) and index.size() == 50
    query = vectors[7]
    _, rows = index.search(query, 3)
    assert rows[0][0] == 7
    allowed = np.zeros(50, dtype=bool)
    allowed[20:30] = True
    scores, rows = index.search(query, 5, allowed)
    assert set(rows[0].tolist()) <= set(range(20, 30)) and len(set(rows[0].tolist())) == 5
    expected = np.argsort(-(vectors[20:30] @ query))[:5] + 20
    assert rows[0].tolist() == expected.tolist()
    assert np.allclose(scores[0], vectors[rows[0]] @ query, atol=1e-6)


def test_removed_rows_are_never_returned_and_rows_keep_their_place(tmp_path: Path) -> None:
    vectors = _unit(40, seed=1)
    index = FlatIndex.from_vectors(vectors)
    index.remove([3, 4])
    _, rows = index.search(vectors[3], 40)
    assert 3 not in rows[0] and 4 not in rows[0] and (rows[0] >= 0).sum() == 38
    added = _unit(2, seed=2)
    index.add(added)
    assert index.size() == 42
    assert np.array_equal(index.vectors(np.array([5, 40])), np.vstack([vectors[5], added[0]]))
    _, rows = index.search(vectors[4], 42, np.ones(42, dtype=bool))
    assert 4 not in rows[0] and (rows[0] >= 0).sum() == 40


def test_flat_index_round_trips_through_a_file(tmp_path: Path) -> None:
    vectors = _unit(30, seed=3)
    FlatIndex.from_vectors(vectors).save(tmp_path / "v.faiss")
    loaded = FlatIndex.load(tmp_path / "v.faiss")
    assert loaded.dim == 8 and loaded.size() == 30
    assert np.array_equal(loaded.vectors(np.arange(30)), vectors)


def _clustered(rows: int, dim: int = 32, topics: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors around ``topics`` centres, as texts cluster around subjects."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, dim))
    vectors = centres[rng.integers(0, topics, rows)] + 0.6 * rng.normal(size=(rows, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _stored(got: np.ndarray, vectors: np.ndarray) -> bool:
    """Whether rows read back are ``vectors`` as the approximate index keeps them (each
    row's difference from its list's centre in float16)."""
    return got.shape == vectors.shape and float(np.abs(got - vectors).max()) < 5e-4


def _exact(vectors: np.ndarray, queries: np.ndarray, k: int,
           allowed: np.ndarray | None = None) -> np.ndarray:
    scores = queries @ vectors.T
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def test_approximate_index_finds_nearly_what_exact_search_finds() -> None:
    vectors = _clustered(4000)
    index = IvfIndex.train(vectors)
    assert isinstance(index, VectorIndex) and index.size() == 4000
    assert 1 < index.probes < index.lists  # it really skips lists
    queries = _clustered(100, seed=9)
    _, found = index.search(queries, 10)
    recall = np.mean([len(set(f) & set(e)) / 10 for f, e in
                      zip(found.tolist(), _exact(vectors, queries, 10).tolist(), strict=True)])
    assert recall >= 0.9, recall
    # Same rows, same lists: training is deterministic.
    assert np.array_equal(IvfIndex.train(vectors).search(queries, 10)[1], found)
    assert _stored(index.vectors(np.array([0, 3999])), vectors[[0, 3999]])


def test_approximate_index_never_leaves_the_admitted_rows() -> None:
    """A server's scope: large ones are filtered inside faiss, small ones searched exactly."""
    vectors = _clustered(4000, seed=1)
    index = IvfIndex.train(vectors)
    queries = _clustered(50, seed=2)
    rng = np.random.default_rng(3)
    for share in (0.6, 0.15, 0.004):  # the IVF path with a selector, then the exact path
        allowed = rng.random(4000) < share
        scores, found = index.search(queries, 10, allowed)
        hits = found[found >= 0]
        assert len(hits) and allowed[hits].all()
        assert ((found >= 0).sum(axis=1) == min(10, int(allowed.sum()))).all()  # never short
        assert np.allclose(scores[found >= 0], np.einsum(
            "ij,ij->i", vectors[hits], np.repeat(queries, (found >= 0).sum(axis=1), axis=0)),
            atol=1e-3)
    small = np.zeros(4000, dtype=bool)
    small[rng.choice(4000, 12, replace=False)] = True
    _, found = index.search(queries, 10, small)
    stored = index.vectors(np.arange(4000))  # the exact path reads these
    assert found.tolist() == _exact(stored, queries, 10, small).tolist()
    _, none = index.search(queries[:1], 5, np.zeros(4000, dtype=bool))
    assert none.tolist() == [[-1] * 5]


def test_approximate_index_adds_and_removes_without_a_rebuild(tmp_path: Path) -> None:
    vectors = _clustered(3000, seed=4)
    index = IvfIndex.train(vectors)
    lists = index.lists
    added = _clustered(20, seed=5)
    index.add(added)
    assert index.size() == 3020 and index.lists == lists  # filed into the existing lists
    _, found = index.search(added, 1)
    assert found[:, 0].tolist() == list(range(3000, 3020))
    index.remove([3000, 3001, 17])
    _, found = index.search(np.vstack([added[:2], vectors[17:18]]), 50)
    assert not {3000, 3001, 17} & set(found.ravel().tolist())
    _, found = index.search(vectors[17:18], 50, np.ones(3020, dtype=bool))
    assert 17 not in found[0]
    index.save(tmp_path / "ivf.faiss")
    loaded = load_index(tmp_path / "ivf.faiss")
    assert isinstance(loaded, IvfIndex) and loaded.size() == 3020
    assert _stored(loaded.vectors(np.arange(3020)), np.vstack([vectors, added]))
    FlatIndex.from_vectors(vectors).save(tmp_path / "flat.faiss")
    assert isinstance(load_index(tmp_path / "flat.faiss"), FlatIndex)  # whichever kind
    (tmp_path / "junk.faiss").write_bytes(b"not an index")
    with pytest.raises(IndexCorruptError):
        load_index(tmp_path / "junk.faiss")


def test_a_growing_index_turns_approximate_at_the_threshold_keeping_its_removals() -> None:
    vectors = _clustered(3000, seed=6)
    index: VectorIndex = grow(FlatIndex(32), vectors[:1000], 2000)
    assert isinstance(index, FlatIndex)
    index.remove([5])
    assert grow(index, vectors[:0], 0) is index and grow(index, vectors[:0], 2000) is index
    grown = grow(index, vectors[1000:], 2000)
    assert isinstance(grown, IvfIndex) and grown.size() == 3000
    assert _stored(grown.vectors(np.arange(3000)), vectors)
    _, found = grown.search(vectors[5:6], 3000, np.ones(3000, dtype=bool))
    assert 5 not in found[0] and (found[0] >= 0).sum() == 2999
    more = _clustered(2000, seed=7)
    assert grow(grown, more, 2000) is grown  # filed into its lists: under fourfold growth
    again = grow(grown, _clustered(7000, seed=8), 2000)
    assert isinstance(again, IvfIndex) and again is not grown and again.lists > grown.lists
    assert again.size() == 12000 and 5 not in again.search(vectors[5:6], 50)[1][0]
    assert _stored(again.vectors(np.arange(3000, 5000)), more)
    # An index that starts past the threshold is approximate from its first rows.
    assert isinstance(grow(FlatIndex(32), vectors, 2000), IvfIndex)


def test_only_the_ann_package_imports_faiss() -> None:
    importers = []
    for package in ("index", "bot", "citebot"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(n.split(".")[0] == "faiss" for n in names):
                    importers.append(path.relative_to(ROOT).as_posix())
    assert importers and all(p.startswith("index/retrieval/ann/") for p in importers), importers


def test_eight_bit_rows_find_nearly_what_exact_search_finds_in_less_memory(
        tmp_path: Path) -> None:
    """The multilingual leg keeps 8-bit codes once approximate (half of float16's memory)."""
    vectors = _clustered(4000)
    index = grow(FlatIndex(vectors.shape[1]), vectors, 1000, codes="8bit")
    assert isinstance(index, IvfIndex)
    queries = _clustered(100, seed=9)
    _, found = index.search(queries, 10)
    recall = np.mean([len(set(f) & set(e)) / 10 for f, e in
                      zip(found.tolist(), _exact(vectors, queries, 10).tolist(), strict=True)])
    assert recall >= 0.9, recall
    index.save(tmp_path / "codes.faiss")
    IvfIndex.train(vectors).save(tmp_path / "float16.faiss")
    assert (tmp_path / "codes.faiss").stat().st_size < (tmp_path / "float16.faiss").stat().st_size
    again = load_index(tmp_path / "codes.faiss")
    assert np.array_equal(again.search(queries, 10)[1], found)
    assert np.abs(again.vectors(np.arange(4000)) - vectors).max() < 0.05


def test_the_share_of_lists_probed_falls_as_the_index_grows() -> None:
    assert shape(100_000) == (632, 164) and shape(1_000_000) == (2000, 291)
    assert probes_for(10) == 10  # a small index is probed whole
    shares = [probes_for(lists) / lists for lists in (200, 632, 2000, 6000)]
    assert shares == sorted(shares, reverse=True)
