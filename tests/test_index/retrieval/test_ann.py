"""The vector-index seam: the flat index behind ``VectorIndex``, and faiss kept behind it."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from index.retrieval.ann import FlatIndex, VectorIndex
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
