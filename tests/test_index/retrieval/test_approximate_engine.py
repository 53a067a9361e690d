"""The engine on approximate vector indexes (``index.approximate_from`` set low enough that
the bundled corpus crosses it), with the real model and the index on disk.

The searches here are small enough that each one takes ``IvfIndex``'s exact path for
small scopes; the inverted-list path itself is tested in ``test_ann``. What this shows is
the plumbing: the switch on load, an add filed into the approximate index, scopes kept
apart, a remove, and a restart that finds the same state.
"""

from __future__ import annotations

from pathlib import Path

from index.articles.extract import from_plain
from index.retrieval.ann import FlatIndex, IvfIndex
from index.retrieval.embedder import Encoder
from index.retrieval.engine import Engine
from tests.conftest import make_settings

QUESTIONS = ("Why are people protesting in Peru?", "What happened in Juliaca?",
             "What do the protesters demand?")


def test_an_approximate_index_answers_keeps_scopes_apart_and_takes_adds_and_removes(
        tmp_path: Path, embedder: Encoder, engine: Engine) -> None:
    settings = make_settings(tmp_path / "data", index={"approximate_from": 40})
    approximate = Engine.open(settings, embedder=embedder)
    live = approximate.searcher.data.live
    assert isinstance(live.vectors, IvfIndex) and isinstance(live.sentence_vectors, IvfIndex)
    assert isinstance(engine.searcher.data.live.vectors, FlatIndex)  # the default stays exact
    for question in QUESTIONS:
        got = [c.passage.passage_id for c in approximate.ask(question).results]
        assert got and got == [c.passage.passage_id for c in engine.ask(question).results]

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
