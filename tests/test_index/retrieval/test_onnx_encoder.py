"""The onnxruntime int8 backend with the real model: exported once, cached, agreeing with torch."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from index.articles.library import Library
from index.articles.passages import split_corpus
from index.config import ModelSettings, load_settings
from index.errors import ModelError
from index.retrieval import onnx_encoder
from index.retrieval.embedder import Embedder, Encoder, choose_backend, load_encoder
from index.retrieval.onnx_encoder import OnnxEncoder
from tests import paths

QUESTIONS = [json.loads(line)["question"] for line in
             (paths.ROOT / "bench" / "data" / "seed_questions.jsonl").read_text().splitlines()
             if line.strip()]


@pytest.fixture(scope="module")
def encoder(embedder: Encoder, tmp_path_factory: pytest.TempPathFactory) -> OnnxEncoder:
    """The int8 model: the session's (the default settings choose it on a CPU), else
    exported, smoothed and quantized into an empty folder."""
    if isinstance(embedder, OnnxEncoder) and embedder.kind == "int8":
        return embedder
    return OnnxEncoder(load_settings(environ={}).model.name, tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="module")
def cache_dir(encoder: OnnxEncoder) -> Path:
    return encoder.path.parent


@pytest.fixture(scope="module")
def torch_model(torch_embedder: Embedder) -> Embedder:
    """The torch model at float32, to compare with."""
    return torch_embedder


@pytest.fixture(scope="module")
def passages(torch_model: Embedder) -> list[str]:
    """The bundled corpus's passages, cut as the indexer cuts them."""
    settings = load_settings(environ={})
    return [p.embed_text(True) for p in split_corpus(
        Library(settings).documents(), torch_model.count_tokens,
        settings.index.max_passage_tokens, torch_model.max_tokens, True)]


def test_export_is_cached_atomically_and_reused(encoder: OnnxEncoder, cache_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The first load leaves the finished files only (no temporary ones); the second
    load takes the cached int8 file without exporting or quantizing again."""
    names = sorted(p.name for p in cache_dir.iterdir())
    assert not [n for n in names if n.startswith(".")], names  # no export left half-done
    ours = [n for n in names if n.startswith(encoder.path.name.rsplit("-", 2)[0] + "-")]
    assert sorted(n.rsplit("-", 1)[-1] for n in ours) == ["float32.onnx", "int8.onnx"], names
    assert encoder.path.parent == cache_dir and encoder.path.name.endswith("-int8.onnx")
    stamp = encoder.path.stat().st_mtime_ns

    def refuse(*args: object) -> None:
        raise AssertionError("exported again although the file is cached")

    monkeypatch.setattr(onnx_encoder, "_export", refuse)
    monkeypatch.setattr(onnx_encoder, "_quantize", refuse)
    again = OnnxEncoder(encoder.name.split("#")[0], cache_dir)
    assert again.path == encoder.path
    assert again.path.stat().st_mtime_ns == stamp


def test_interface_matches_the_torch_embedder(encoder: OnnxEncoder, torch_model: Embedder,
                                              passages: list[str]) -> None:
    """Same dimension and token counts; a name of its own, so caches never mix the two."""
    assert encoder.dim == torch_model.dim == 384
    assert encoder.max_tokens == torch_model.max_tokens
    assert encoder.name != torch_model.name and "onnx-int8" in encoder.name
    for text in passages[:20]:
        assert encoder.count_tokens(text) == torch_model.count_tokens(text)
    empty = encoder.encode([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32


def test_vectors_agree_with_torch(encoder: OnnxEncoder, torch_model: Embedder,
                                  passages: list[str]) -> None:
    """Unit vectors pointing where torch's do (measured: cosine above 0.996 on 400
    passages of the bundled corpus and SciFact, bench/onnx_int8.py)."""
    texts = passages[:40] + QUESTIONS[:10] + ["x " * 400]  # the last one is truncated
    ours, theirs = encoder.encode(texts), torch_model.encode(texts)
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() > 0.99, cosines.min()
    assert cosines.mean() > 0.995, cosines.mean()


def test_top_passage_matches_torch(encoder: OnnxEncoder, torch_model: Embedder,
                                   passages: list[str]) -> None:
    """Each seed question's best passage is torch's best, unless torch itself puts its
    first two within 0.01 of each other: then it is at least torch's second (measured:
    44 of 45 agree, the one that does not has torch's first two 0.002 apart)."""
    ours = np.argmax(encoder.encode(QUESTIONS) @ encoder.encode(passages).T, axis=1)
    scores = torch_model.encode(QUESTIONS) @ torch_model.encode(passages).T
    ranked = np.argsort(-scores, axis=1)
    margin = np.take_along_axis(scores, ranked[:, :2], axis=1) @ np.array([1.0, -1.0])
    clear = margin > 0.01
    assert clear.sum() >= len(QUESTIONS) // 2
    assert (ours[clear] == ranked[clear, 0]).all(), [
        q for q, c, a, b in zip(QUESTIONS, clear, ours, ranked[:, 0], strict=True) if c and a != b]
    assert all(o in r[:2] for o, r in zip(ours, ranked, strict=True))


def test_a_text_gets_the_same_vector_alone_or_among_others(encoder: OnnxEncoder) -> None:
    """int8 activations are quantized per call: were texts batched, a question's vector
    (and so its answer) would depend on who else asked at the same moment."""
    alone = encoder.encode(QUESTIONS[:1])
    crowded = encoder.encode([*QUESTIONS[:1], "x " * 300, "Peru " * 40, *QUESTIONS[1:8]],
                             batch_size=16)
    assert np.array_equal(alone[0], crowded[0])


def test_auto_backend_is_onnx_for_the_bundled_model_on_a_cpu_only() -> None:
    """Measured only for the bundled model on a CPU (bench/onnx_int8.py): elsewhere torch."""
    bundled = ModelSettings()
    assert choose_backend(bundled) == "onnx-int8"
    assert choose_backend(dataclasses.replace(bundled, device="cuda")) == "torch"
    assert choose_backend(dataclasses.replace(bundled, name="intfloat/e5-small")) == "torch"
    assert choose_backend(dataclasses.replace(bundled, backend="torch")) == "torch"


def test_auto_falls_back_to_torch_when_the_export_cannot_be_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A cache folder that cannot be made (here a file stands where it should go) does not
    stop citebot under "auto": it warns and runs on torch. Asked for by name, it is an error
    that says which setting to change."""
    blocked = tmp_path / "cache"
    blocked.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    with caplog.at_level(logging.WARNING, logger="index.retrieval.embedder"):
        model = load_encoder(ModelSettings())
    assert isinstance(model, Embedder)
    assert model.encode(["quinoa harvest"]).shape == (1, 384)
    assert any("using torch" in r.getMessage() for r in caplog.records)
    with pytest.raises(ModelError, match=re.escape('model.backend to "torch"')):
        load_encoder(ModelSettings(backend="onnx-int8"))
