"""The index on disk: built once, updated incrementally, rebuilt when damaged or re-modelled."""

import json
from pathlib import Path

import pytest

from index.articles.documents import load_corpus
from index.errors import IndexCorruptError, IndexFormatError
from index.retrieval import keyword, live
from index.retrieval.embedder import EmbeddingCache, Encoder
from index.retrieval.engine import Engine
from index.retrieval.indexer import update_index
from index.retrieval.store import IndexStore
from tests.conftest import make_settings

ARTICLE = """---
title: Llamas of the Altiplano
author: Test Writer
date: 2024-01
source: blog post
url: https://example.org/llamas
---

Llamas carry loads across the high plateau near Lake Titicaca.

Herders shear alpaca wool each spring and sell it in Puno.
"""


def small_settings(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "llamas.md").write_text(ARTICLE, encoding="utf-8")
    return make_settings(tmp_path / "data", corpus={"bundled": False, "dirs": [str(corpus)]})


def test_build_then_reload_uses_the_stored_index(tmp_path: Path, embedder: Encoder) -> None:
    """A second open finds the index up to date and embeds nothing."""
    settings = small_settings(tmp_path)
    first = Engine.open(settings, embedder=embedder)
    assert first.report.rebuilt and first.report.total == 2
    second = Engine.open(settings, embedder=embedder)
    assert (second.report.rebuilt, second.report.added, second.report.removed) == (False, 0, 0)
    manifest = IndexStore(settings.data_dir).load().manifest
    assert (manifest.model, manifest.dim, manifest.count) == (embedder.name, 384, 2)
    assert manifest.model.split("#")[0] == "all-MiniLM-L6-v2"  # the backend, if any, after #


def test_a_start_reads_the_stored_terms_and_words_instead_of_reading_every_passage(
        tmp_path: Path, embedder: Encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokenizing every passage for BM25 and reading its words for the name check were most
    of a large index's start; each segment keeps both."""
    settings = small_settings(tmp_path)
    Engine.open(settings, embedder=embedder)

    def forbidden(*_: object, **__: object) -> None:
        raise AssertionError("a start read every passage again")

    monkeypatch.setattr(keyword, "tokenize", forbidden)
    monkeypatch.setattr(live, "words_of", forbidden)
    again = Engine.open(settings, embedder=embedder)
    assert not again.report.rebuilt
    answer = again.ask("Who carries loads near Lake Titicaca?")  # BM25 votes: "Titicaca"
    assert answer.results and "Titicaca" in answer.results[0].passage.text
    assert again.searcher.data.live.keyword.scores("Titicaca").max() > 0
    assert again.ask("What do herders in Ayacucho sell?").unknown_names == ("Ayacucho",)


def test_update_adds_and_removes_only_what_changed(tmp_path: Path, embedder: Encoder) -> None:
    """Editing one paragraph re-embeds one passage and drops the old one."""
    settings = small_settings(tmp_path)
    Engine.open(settings, embedder=embedder)
    path = tmp_path / "corpus" / "llamas.md"
    path.write_text(ARTICLE.replace("each spring", "every autumn"), encoding="utf-8")
    engine = Engine.open(settings, embedder=embedder)
    assert (engine.report.added, engine.report.removed, engine.report.total) == (1, 1, 2)
    answer = engine.ask("When is alpaca wool sheared?")
    assert "every autumn" in answer.results[0].passage.text


def test_unchanged_passages_come_from_the_cache(tmp_path: Path, embedder: Encoder) -> None:
    """A rebuild after deleting the index embeds nothing new: every vector is cached."""
    settings = small_settings(tmp_path)
    Engine.open(settings, embedder=embedder).close()
    cache = EmbeddingCache(settings.data_dir / "embeddings.sqlite")
    calls = []
    original = embedder.encode

    def counting(texts, progress=None, batch_size=None):
        calls.append(len(texts))
        return original(texts, progress, batch_size)

    embedder.encode = counting  # type: ignore[method-assign]
    try:
        store = IndexStore(tmp_path / "fresh")
        update_index(store, load_corpus(settings.corpus_dirs()), embedder, cache, settings)
    finally:
        del embedder.encode
    assert calls == []


def index_file(store: IndexStore, name: str) -> Path:
    """The live manifest, or a file of the live index's first segment."""
    manifest = store.manifest_path()
    if name == "manifest":
        return manifest
    return store.root / json.loads(manifest.read_text())["segments"][0]["name"] / name


@pytest.mark.parametrize("victim", ["vectors.faiss", "sentences.npy", "passages.jsonl", "table.npz",
                                    "manifest"])
def test_damaged_index_is_detected_and_rebuilt(tmp_path: Path, embedder: Encoder,
                                               victim: str) -> None:
    """Corrupting any index file makes load fail and the next open rebuild."""
    settings = small_settings(tmp_path)
    Engine.open(settings, embedder=embedder)
    store = IndexStore(settings.data_dir)
    target = index_file(store, victim)
    target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2] + b"garbage")
    with pytest.raises(IndexCorruptError):
        store.load()
    engine = Engine.open(settings, embedder=embedder)
    assert engine.report.rebuilt and "damaged" in engine.report.reason
    assert engine.ask("Who carries loads on the plateau?").answered


def test_an_index_of_another_format_is_rebuilt_and_not_called_damaged(
        tmp_path: Path, embedder: Encoder) -> None:
    """An index written by another citebot version is rebuilt, with a reason that says so."""
    settings = small_settings(tmp_path)
    Engine.open(settings, embedder=embedder)
    store = IndexStore(settings.data_dir)
    manifest = index_file(store, "manifest")
    raw = json.loads(manifest.read_text())
    raw["format_version"] -= 1
    manifest.write_text(json.dumps(raw))
    with pytest.raises(IndexFormatError):
        store.load()
    engine = Engine.open(settings, embedder=embedder)
    assert engine.report.rebuilt and "damaged" not in engine.report.reason
    assert "another version of citebot" in engine.report.reason
    assert engine.ask("Who carries loads on the plateau?").answered


def test_a_segment_left_half_written_is_ignored(tmp_path: Path, embedder: Encoder) -> None:
    """Leftovers of a crashed save (a temporary segment, an unpublished one) change nothing."""
    settings = small_settings(tmp_path)
    Engine.open(settings, embedder=embedder)
    store = IndexStore(settings.data_dir)
    (store.root / ".seg-000099.tmp").mkdir()
    (store.root / ".seg-000099.tmp" / "vectors.faiss").write_bytes(b"partial")
    (store.root / "seg-000098").mkdir()
    assert store.load().manifest.count == 2
    path = tmp_path / "corpus" / "llamas.md"
    path.write_text(ARTICLE.replace("each spring", "every autumn"), encoding="utf-8")
    Engine.open(settings, embedder=embedder)
    assert not (store.root / ".seg-000099.tmp").exists()
    assert not (store.root / "seg-000098").exists()


def test_model_change_forces_a_rebuild(tmp_path: Path, embedder: Encoder) -> None:
    """An index made by another model is rebuilt, and the report says why."""
    settings = small_settings(tmp_path)
    Engine.open(settings, embedder=embedder)
    store = IndexStore(settings.data_dir)
    manifest_path = store.manifest_path()
    manifest = json.loads(manifest_path.read_text())
    manifest["model"] = "some-other-model"
    manifest_path.write_text(json.dumps(manifest))
    engine = Engine.open(settings, embedder=embedder)
    assert engine.report.rebuilt
    assert "model changed from some-other-model to all-MiniLM-L6-v2" in engine.report.reason


def test_changed_split_settings_resplit_unchanged_documents(tmp_path: Path,
                                                            embedder: Encoder) -> None:
    """Passages of unchanged files are reused, unless the splitting settings change."""
    settings = small_settings(tmp_path)
    Engine.open(settings, embedder=embedder)
    untitled = make_settings(settings.data_dir, corpus={"bundled": False,
                             "dirs": list(settings.corpus.dirs)}, index={"embed_title": False})
    engine = Engine.open(untitled, embedder=embedder)
    assert (engine.report.added, engine.report.removed) == (2, 2)
