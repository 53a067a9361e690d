"""Author bios are marked at ingestion and cited only for questions about their author."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from index.articles.documents import BIO, CONTENT, parse_document
from index.articles.extract import from_html, from_pdf, from_plain
from index.articles.fetch import fetch, policy_from
from index.articles.ingest import from_fetched
from index.retrieval.embedder import Encoder
from index.retrieval.engine import Engine
from tests import paths
from tests.conftest import SMALL, make_settings
from tests.pages import PAGES, make_pdf, page_server

BIO_START = "W.T. Whitney Jr.\u00a0is a political journalist"



@pytest.mark.parametrize("question", [
    "¿Por qué protesta la gente en Perú?",
    "¿Cuántas personas murieron en las protestas?",
    "¿Quién es el presidente de Perú?",
])
def test_spanish_question_about_the_protests_does_not_get_the_bio(
        engine: Engine, question: str) -> None:
    """A Spanish question about the protests is answered from the articles, never the bio."""
    answer = engine.ask(question)
    assert answer.answered
    assert all(c.passage.part == CONTENT for c in answer.results)
    assert not any(c.passage.text.startswith("W.T. Whitney Jr.") for c in answer.results)


@pytest.mark.parametrize("question", [
    "Who is W.T. Whitney Jr.?",
    "What does Whitney do for a living?",
    "¿Quién es el autor del artículo?",
])
def test_question_about_the_author_gets_the_bio(engine: Engine, question: str) -> None:
    """A question naming the author, or asking who wrote, is answered by the bio first."""
    top = engine.ask(question).results[0]
    assert top.passage.part == BIO and top.passage.text.startswith("W.T. Whitney Jr.")
    assert top.passage.citation_label() == "W.T. Whitney Jr. · article, about the author"


def test_bundled_bio_is_marked_with_its_wording_unchanged() -> None:
    """The heading marks the last paragraph of the second article; its text is as before."""
    text = (paths.ROOT / "corpus" / "peru-rural-resistance.md"
            ).read_text(encoding="utf-8")
    doc = parse_document(text, "peru-rural-resistance")
    *content, last = doc.sections[0].paragraphs
    assert last.part == BIO and last.text.startswith(BIO_START.replace("\u00a0", " "))
    assert last.text.endswith("vive en la zona rural de Maine.")
    assert all(p.part == CONTENT for p in content) and last.number == len(content) + 1


def test_heading_marks_bios_of_articles_and_comments() -> None:
    """What follows '## About the author' is bio, in the article and in a comment."""
    text = ("---\ntitle: T\nauthor: Ann Lee\n---\n\nFirst.\n\nSecond.\n\n## About the author\n\n"
            "Ann Lee writes about water.\n\n## Comment 1\nauthor: Bo\n\nA view.\n\n"
            "## about the author\n\nBo farms in Puno.\n")
    doc = parse_document(text, "t")
    article, comment = doc.sections
    assert [(p.number, p.part, p.text) for p in article.paragraphs] == [
        (1, CONTENT, "First."), (2, CONTENT, "Second."), (3, BIO, "Ann Lee writes about water.")]
    assert [(p.part, p.text) for p in comment.paragraphs] == [
        (CONTENT, "A view."), (BIO, "Bo farms in Puno.")]


def test_bio_rules_for_text_and_pdf() -> None:
    """A closing 'Name is a journalist' paragraph or an 'About the author' title marks a bio."""
    plain = from_plain("Water in Puno is scarce after a dry summer, the utility said.\n\n"
                       "Maria Condori is a journalist based in Puno.")
    assert plain.bio == ("Maria Condori is a journalist based in Puno.",)
    assert "## About the author\n\nMaria Condori" in plain.body()
    news = from_plain("The vote was delayed again.\n\nPresident Dina Boluarte is a lawyer.")
    assert news.bio == () and len(news.paragraphs) == 2
    titled = from_pdf(make_pdf(["The reservoir holds water for ninety days.", "",
                                "About the author", "",
                                "Written by the press office of the utility."]), "report.pdf")
    assert titled.bio == ("Written by the press office of the utility.",)
    assert from_html((PAGES / "llamas.html").read_bytes()).bio == ()


def test_added_page_bio_is_marked_and_cited_only_about_its_author(small_engine: Engine) -> None:
    """A page's author-bio box is stored after '## About the author' and cited only about her."""
    with page_server() as base:
        policy = policy_from(["127.0.0.1"], 5.0, 5_000_000, 5)
        fetched = asyncio.run(fetch(f"{base}/pages/puno-quinoa-bio.html", policy))
    article = from_fetched(fetched, fetched.url)
    assert not any("cubre la agricultura" in p for p in article.paragraphs)
    doc, _ = small_engine.add(article)
    assert doc.path is not None
    stored = doc.path.read_text(encoding="utf-8")
    assert "\n## About the author\n\nLucía Mamani covers farming" in stored
    bio = [p for p in doc.sections[0].paragraphs if p.part == BIO]
    assert len(bio) == 1 and "cubre la agricultura" in bio[0].text

    top = small_engine.ask("Who is Lucía Mamani?").results[0]
    assert top.passage.part == BIO and top.passage.doc_id == doc.doc_id
    for question in ("¿Por qué perdieron la cosecha los productores de quinua en Puno?",
                     "Why did quinoa growers near Puno lose their harvest?"):
        results = small_engine.ask(question).results
        assert results and results[0].passage.doc_id == doc.doc_id
        assert all(c.passage.part == CONTENT for c in results)


def test_marking_a_bio_in_an_indexed_file_updates_the_index(tmp_path: Path,
                                                            embedder: Encoder) -> None:
    """Adding the heading to an indexed file replaces the paragraph's passage with a bio one."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    body = SMALL + "\nTest Writer is a reporter who covers farming in the Andes.\n"
    (corpus / "quinoa.md").write_text(body, encoding="utf-8")
    settings = make_settings(tmp_path / "data", corpus={"bundled": False, "dirs": [str(corpus)]})
    engine = Engine.open(settings, embedder=embedder)
    question = "What does the reporter cover?"
    assert engine.ask(question).results[0].passage.text.startswith("Test Writer is")
    marked = body.replace("\nTest Writer is", "\n## About the author\n\nTest Writer is")
    (corpus / "quinoa.md").write_text(marked, encoding="utf-8")
    report = engine.refresh()
    assert (report.added, report.removed) == (1, 1)
    live = engine.searcher.data.live
    parts = {p.text[:11]: p.part for _, p in live.live_passages()}
    assert parts == {"Quinoa farm": CONTENT, "Test Writer": BIO}
    assert all(c.passage.part == CONTENT for c in engine.ask(question).results)
    assert engine.ask("Who is Test Writer?").results[0].passage.part == BIO
    engine.close()
