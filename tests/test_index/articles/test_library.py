"""Adding, listing and removing articles through the library API, with the real model."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bot.cogs.articles import _hint as article_hint
from citebot.commands.common import hint as _hint
from index.articles.extract import Article, from_file, from_html, from_pdf, from_plain
from index.articles.fetch import fetch, policy_from
from index.errors import ExtractError, LibraryError, NearDuplicateError
from index.retrieval.embedder import Encoder
from index.retrieval.engine import Engine
from index.retrieval.store import IndexStore
from tests.pages import PAGES, REPORT_LINES, make_pdf, page_server


def llamas() -> bytes:
    return (PAGES / "llamas.html").read_bytes()


def test_page_extraction_keeps_article_and_comments_only() -> None:
    """Main text, metadata and authored comments; no navigation, ads, footer or banner."""
    article = from_html(llamas(), "http://127.0.0.1/pages/llamas.html")
    assert article.title == "Llamas of the Altiplano"
    assert (article.author, article.date) == ("Ana Quispe", "2024-05-02")
    assert article.url == "https://andes-gazette.example/2024/05/llamas-of-the-altiplano"
    text = " ".join(article.paragraphs)
    assert "Lake Titicaca" in text and "mange" in text
    for junk in ("cookies", "Cheap flights", "Subscribe", "All rights reserved", "Politics"):
        assert junk not in text
    assert [c.author for c in article.comments] == ["Rosa Mamani", "Pedro", ""]
    assert article.comments[1].paragraphs == (
        "The warehouse in Juliaca was promised three times already.",
        "Nobody believes it will be built.")


def test_added_page_is_citable_at_once_with_its_comments(small_engine: Engine) -> None:
    """Adding embeds only the new passages; questions find the article and its comments."""
    before = small_engine.report.total
    doc, report = small_engine.add(from_html(llamas(), "http://127.0.0.1/l"))
    assert report.removed == 0 and report.total == before + report.added
    answer = small_engine.ask("When do herders shear the wool?")
    assert answer.results[0].passage.doc_id == doc.doc_id
    comment = small_engine.ask("Who doubts the warehouse in Juliaca will be built?").results[0]
    assert (comment.passage.kind, comment.passage.author) == ("comment", "Pedro")
    assert doc.path is not None and doc.path.read_text(encoding="utf-8").startswith("---\n")


def test_fetched_page_through_the_exempted_local_server(small_engine: Engine) -> None:
    """A page served on 127.0.0.1 (exempted) is fetched, extracted and added."""
    with page_server() as base:
        policy = policy_from(["127.0.0.1"], 5.0, 5_000_000, 5)
        fetched = asyncio.run(fetch(f"{base}/pages/llamas.html", policy))
    doc, report = small_engine.add(from_html(fetched.body, fetched.url))
    assert report.added >= 4 and doc.author == "Ana Quispe"


def test_duplicates_are_refused_with_a_pointer(small_engine: Engine) -> None:
    """Same canonical URL, same text or mostly the same paragraphs: refused, naming the first."""
    doc, _ = small_engine.add(from_html(llamas()))
    with pytest.raises(LibraryError, match=f"already in the corpus as '{doc.doc_id}'"):
        small_engine.add(from_html(llamas()))
    article = from_html(llamas())
    retitled = type(article)(title="Another title", paragraphs=article.paragraphs)
    with pytest.raises(LibraryError, match="same text is already in the corpus"):
        small_engine.add(retitled)
    near = type(article)(title="Near copy", paragraphs=(*article.paragraphs[:3],
                         "A new closing paragraph that was not in the original article at all."))
    with pytest.raises(NearDuplicateError, match=f"already in '{doc.doc_id}'") as refused:
        small_engine.add(near)
    # The library names no flag; each front end says how to add it anyway.
    assert "--" not in str(refused.value)
    assert _hint(refused.value) == "; add --force to add it anyway"
    assert article_hint(refused.value) == "; set `force` to True to add it anyway"
    forced, _ = small_engine.add(near, force=True)
    assert forced.doc_id != doc.doc_id


def test_scopes_never_see_each_other(small_engine: Engine) -> None:
    """An article added for one scope is cited there and never in another."""
    article = from_plain("The alpaca festival in Macusani draws weavers from three provinces "
                         "every August, and this year it lasted a full week.")
    article = type(article)(title="Macusani festival", paragraphs=article.paragraphs)
    doc, _ = small_engine.add(article, scope="111")
    question = "How long did the alpaca festival in Macusani last?"
    assert small_engine.ask(question, scopes=("", "111")).results[0].passage.doc_id == doc.doc_id
    for scopes in (("",), ("", "222")):
        assert all(c.passage.doc_id != doc.doc_id
                   for c in small_engine.ask(question, scopes=scopes).results)
    assert doc.doc_id not in {a.doc_id for a in small_engine.library.info("222")}
    with pytest.raises(LibraryError, match="no article"):
        small_engine.remove(doc.doc_id, scope="222")


def test_remove_deletes_from_corpus_and_index(small_engine: Engine) -> None:
    """Removing an added article drops its file and its passages; bundled ones stay."""
    doc, added = small_engine.add(from_html(llamas()))
    _, report = small_engine.remove(doc.doc_id)
    assert report.removed == added.added and doc.path is not None and not doc.path.exists()
    stored = IndexStore(small_engine.settings.data_dir).load()
    assert all(p.doc_id != doc.doc_id for p in stored.passages.values())
    with pytest.raises(LibraryError, match="no article with id"):
        small_engine.remove(doc.doc_id)
    with pytest.raises(LibraryError, match="cannot be removed"):
        small_engine.remove("quinoa")


def test_pdf_files_and_bad_files(tmp_path: Path) -> None:
    """A PDF made here reads back; blank, corrupt, non-UTF-8 and unknown files are refused."""
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(make_pdf(REPORT_LINES, "Puno water report"))
    article = from_file(pdf)
    assert article.title == "Puno water report"
    assert any("ninety days" in p for p in article.paragraphs)
    blank = tmp_path / "blank.pdf"
    blank.write_bytes(make_pdf([]))
    with pytest.raises(ExtractError, match="no text layer"):
        from_file(blank)
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    with pytest.raises(ExtractError, match="is not a readable PDF"):
        from_pdf(corrupt.read_bytes(), str(corrupt))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Caf\xe9 con le\xf1a".encode("latin-1"))
    with pytest.raises(ExtractError, match="not UTF-8"):
        from_file(latin)
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(ExtractError, match="binary"):
        from_file(binary)
    image = tmp_path / "image.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ExtractError, match=r"reads \.txt, \.md, \.html and \.pdf"):
        from_file(image)
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 300_000)
    with pytest.raises(ExtractError, match="larger than 1 MB"):
        from_file(big, max_bytes=1_000_000)


def test_control_characters_are_stripped() -> None:
    """NULs and control characters never reach the stored text."""
    article = from_plain("First\x00 para\x07graph with\x1b text.\n\nSecond.")
    assert article.paragraphs == ("First paragraph with text.", "Second.")


def test_async_add_runs_off_the_event_loop_with_progress(small_engine: Engine) -> None:
    """While an add embeds in a worker thread, the loop keeps ticking and progress arrives."""
    calls: list[tuple[int, int]] = []

    async def main() -> int:
        ticks = 0
        task = asyncio.create_task(small_engine.add_async(
            from_html(llamas()), progress=lambda done, total: calls.append((done, total))))
        while not task.done():
            await asyncio.sleep(0.005)
            ticks += 1
        doc, report = await task
        assert report.added > 0 and doc.title == "Llamas of the Altiplano"
        return ticks

    ticks = asyncio.run(main())
    assert ticks > 3
    assert calls and calls[-1][0] == calls[-1][1] and calls[-1][1] > 0


def note(n: int) -> Article:
    """A short pasted article, distinct for each ``n``."""
    text = f"Note {n} about the harvest. " + "Quinoa prices rose. " * 6 + f"Unique marker {n}."
    return dataclasses.replace(from_plain(text), title=f"Harvest note {n}")


def test_adds_and_removes_write_segments_not_the_whole_index(small_engine: Engine) -> None:
    """An add writes one segment, a remove only marks rows dead; a reload agrees with memory.

    Once most rows are dead, the running process compacts them away.
    """
    store = IndexStore(small_engine.settings.data_dir)
    first = store.load().manifest
    llama_doc, llama_report = small_engine.add(from_html(llamas()))
    note_doc, note_report = small_engine.add(note(1))
    manifest = store.load().manifest
    assert manifest.segments[0] == first.segments[0]
    assert [s.passages for s in manifest.segments[1:]] == [llama_report.added, note_report.added]
    small_engine.remove(note_doc.doc_id)
    after = store.load()
    assert after.manifest.deleted == {manifest.segments[2].name: [0]}
    assert set(after.passages) == set(small_engine.searcher.data.passages)
    assert all("Unique marker" not in c.passage.text
               for c in small_engine.ask("Unique marker 1 harvest note").results)
    small_engine.remove(llama_doc.doc_id)
    compacted = store.load().manifest
    assert len(compacted.segments) == 1 and compacted.deleted == {} and compacted.count == 1
    assert all(c.passage.doc_id == "quinoa" for c in small_engine.ask("llamas wool").results)


def test_an_article_removed_then_added_again_is_found(small_engine: Engine) -> None:
    """Deleted rows are recorded by segment and row, so the same passages can come back."""
    doc, _ = small_engine.add(from_html(llamas()))
    small_engine.remove(doc.doc_id)
    again, report = small_engine.add(from_html(llamas()))
    assert again.doc_id == doc.doc_id and report.added > 0
    answer = small_engine.ask("When are llamas sheared?")
    assert answer.results[0].passage.doc_id == doc.doc_id
    reloaded = IndexStore(small_engine.settings.data_dir).load()
    assert set(reloaded.passages) == set(small_engine.searcher.data.passages)


def test_many_segments_are_compacted_on_the_next_start(small_engine: Engine,
                                                       embedder: Encoder) -> None:
    """Segments pile up in a running process and merge into one when the index is loaded."""
    for n in range(10):
        small_engine.add(note(n))
    assert len(IndexStore(small_engine.settings.data_dir).load().manifest.segments) == 11
    reopened = Engine.open(small_engine.settings, embedder=embedder)
    manifest = IndexStore(small_engine.settings.data_dir).load().manifest
    assert len(manifest.segments) == 1 and manifest.deleted == {}
    assert manifest.count == len(reopened.searcher.data.passages) == 11
    assert len(list(reopened.store.root.glob("seg-*"))) == 1


def test_searches_run_safely_while_articles_are_added(small_engine: Engine) -> None:
    """Questions from another thread during adds and removes always get whole answers."""
    import threading

    errors: list[BaseException] = []
    stop = threading.Event()

    def ask_forever() -> None:
        while not stop.is_set():
            try:
                for citation in small_engine.ask("llamas and quinoa").results:
                    assert citation.passage.text
            except BaseException as exc:
                errors.append(exc)
                return

    thread = threading.Thread(target=ask_forever)
    thread.start()
    try:
        for _ in range(3):
            doc, _ = small_engine.add(from_html(llamas()))
            small_engine.remove(doc.doc_id)
    finally:
        stop.set()
        thread.join()
    assert errors == []
