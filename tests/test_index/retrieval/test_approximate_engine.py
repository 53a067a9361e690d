"""The engine on approximate vector indexes (``index.approximate_from`` set low enough that
the bundled corpus crosses it), with the real model and the index on disk.

The searches here are small enough that each one takes ``IvfIndex``'s exact path for
small scopes; the inverted-list path itself is tested in ``test_ann``. What this shows is
the plumbing: the switch on load, an add filed into the approximate index, scopes kept
apart, a remove, a restart that finds the same state, segments stored with their lists,
and going back to exact search.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index.articles.extract import from_plain
from index.retrieval.ann import FlatIndex, IvfIndex, load_index
from index.retrieval.embedder import Encoder
from index.retrieval.engine import Engine
from index.retrieval.sentence_rows import SentenceRows
from tests import paths
from tests.conftest import SMALL, make_settings

QUESTIONS = ("Why are people protesting in Peru?", "What happened in Juliaca?",
             "What do the protesters demand?")


def test_an_approximate_index_answers_keeps_scopes_apart_and_takes_adds_and_removes(
        tmp_path: Path, embedder: Encoder, engine: Engine) -> None:
    settings = make_settings(tmp_path / "data", index={"approximate_from": 40})
    approximate = Engine.open(settings, embedder=embedder)
    live = approximate.searcher.data.live
    # Sentence vectors are never an index (issue 13): rows read for the candidates.
    assert isinstance(live.vectors, IvfIndex) and isinstance(live.sentence_vectors, SentenceRows)
    assert isinstance(engine.searcher.data.live.vectors, FlatIndex)  # the default stays exact
    for question in QUESTIONS:
        got = [c.passage.passage_id for c in approximate.ask(question).results]
        assert got and got == [c.passage.passage_id for c in engine.ask(question).results]
    # The multilingual leg's rows grow the same way (8-bit codes once approximate)
    # and still find the English passage that answers a Spanish question.
    assert approximate.multilingual is not None
    rows = approximate.multilingual.rows(live)
    assert isinstance(rows, IvfIndex)
    spanish = approximate.ask("¿Por qué el Perú expulsó al enviado de México?")
    assert any("Mexico's ambassador was kicked out of Peru" in c.passage.text
               for c in spanish.results[:3])

    article = from_plain("The alpaca festival in Macusani draws weavers from three provinces "
                         "every August, and this year it lasted a full week.")
    article = type(article)(title="Macusani festival", paragraphs=article.paragraphs)
    rows = live.vectors.size()
    doc, _ = approximate.add(article, scope="111")
    live = approximate.searcher.data.live
    assert isinstance(live.vectors, IvfIndex) and live.vectors.size() > rows
    question = "How long did the alpaca festival in Macusani last?"
    assert approximate.ask(question, scopes=("", "111")).results[0].passage.doc_id == doc.doc_id
    for scopes in (("",), ("", "222")):
        assert all(c.passage.doc_id != doc.doc_id
                   for c in approximate.ask(question, scopes=scopes).results)

    restarted = Engine.open(settings, embedder=embedder)
    assert isinstance(restarted.searcher.data.live.vectors, IvfIndex)
    assert restarted.ask(question, scopes=("", "111")).results[0].passage.doc_id == doc.doc_id
    restarted.remove(doc.doc_id, scope="111")
    assert all(c.passage.doc_id != doc.doc_id
               for c in restarted.ask(question, scopes=("", "111")).results)


def test_a_stored_approximate_segment_loads_as_it_is_with_its_dead_rows_masked(
        tmp_path: Path, embedder: Encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large segment is written with its lists trained; a start reads them (never trains
    again) and masks the rows removed since, without compacting."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in (paths.ROOT / "corpus").glob("*.md"):
        if path.name != "README.md":
            shutil.copy(path, corpus / path.name)
    (corpus / "quinoa.md").write_text(SMALL, encoding="utf-8")
    settings = make_settings(tmp_path / "data", corpus={"bundled": False, "dirs": [str(corpus)]},
                             index={"approximate_from": 40})
    first = Engine.open(settings, embedder=embedder)
    segment = first.searcher.data.manifest.segments[0]
    assert isinstance(load_index(tmp_path / "data" / "index" / segment.name / "vectors.faiss"),
                      IvfIndex)
    question = "What harvest do quinoa farmers around Lake Titicaca expect?"

    def cites_quinoa(engine: Engine) -> bool:
        return any(c.passage.title == "Quinoa in the south" for c in engine.ask(question).results)

    assert cites_quinoa(first)
    (corpus / "quinoa.md").unlink()
    first.refresh()
    assert not cites_quinoa(first)

    def no_training(*_: object, **__: object) -> None:
        raise AssertionError("a start trained the lists again")

    monkeypatch.setattr(IvfIndex, "train", no_training)
    again = Engine.open(settings, embedder=embedder)
    assert again.searcher.data.manifest.deleted.get(segment.name)  # dead rows, not compacted
    live = again.searcher.data.live
    assert isinstance(live.vectors, IvfIndex) and len(live) == len(first.searcher.data.live)
    assert not cites_quinoa(again)
    assert [c.passage.passage_id for c in again.ask(QUESTIONS[0]).results] == \
        [c.passage.passage_id for c in first.ask(QUESTIONS[0]).results]


def test_exact_search_asked_for_turns_a_stored_approximate_index_flat(
        tmp_path: Path, embedder: Encoder) -> None:
    Engine.open(make_settings(tmp_path / "data", index={"approximate_from": 40}),
                embedder=embedder)
    exact = Engine.open(make_settings(tmp_path / "data", index={"approximate_from": 0}),
                        embedder=embedder)
    live = exact.searcher.data.live
    assert isinstance(live.vectors, FlatIndex) and isinstance(live.sentence_vectors, SentenceRows)
    assert exact.ask(QUESTIONS[0]).results
