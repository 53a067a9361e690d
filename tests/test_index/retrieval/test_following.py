"""Several processes on one data directory: what one adds or removes, the others take in
(``Engine.follow``), and changes made at the same moment are never lost.

Two engines opened on the same folder stand for two processes: each has its own index in
memory, its own lock file handle (``flock`` excludes them from each other as it excludes
processes) and the same files on disk. The cross-process path itself (two ``citebot
serve``, PostgreSQL NOTIFY) is tested in ``tests/test_bot/test_scale_out.py``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from index.articles.extract import Article
from index.retrieval.embedder import Encoder
from index.retrieval.engine import Engine
from index.retrieval.following import Follower
from index.retrieval.store import IndexStore
from tests.conftest import make_settings

BASE = """---
title: Llamas of the Altiplano
author: Test Writer
---

Llamas carry loads across the high plateau near Lake Titicaca.

Herders shear alpaca wool each spring and sell it in Puno.
"""

GLACIER = Article(
    title="The shrinking glacier of Pastoruri",
    paragraphs=("The Pastoruri glacier in the Cordillera Blanca has lost half of its ice "
                "since 1980, and guides now lead climate walks across the bare rock.",
                "Villagers below it fear for the water that feeds their potato fields."),
    author="A. Reporter")
CONDOR = Article(
    title="Condors over the Colca canyon",
    paragraphs=("Andean condors ride the morning thermals over the Colca canyon, where "
                "visitors gather at the Cruz del Condor lookout before nine.",
                "Rangers count the birds every spring to follow the population."))
GLACIER_Q = "How much ice has the Pastoruri glacier lost?"
CONDOR_Q = "Where do visitors watch the condors in the Colca canyon?"


@pytest.fixture
def two(tmp_path: Path, embedder: Encoder) -> tuple[Engine, Engine]:
    """Two engines ("processes") serving one data directory."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "llamas.md").write_text(BASE, encoding="utf-8")
    settings = make_settings(tmp_path / "data", corpus={"bundled": False, "dirs": [str(corpus)]})
    return Engine.open(settings, embedder=embedder), Engine.open(settings, embedder=embedder)


def cited_titles(engine: Engine, question: str) -> list[str]:
    return [c.passage.title for c in engine.ask(question).results]


def test_an_article_added_by_one_process_is_citable_in_the_other_after_follow(
        two: tuple[Engine, Engine]) -> None:
    first, second = two
    assert not second.behind()
    doc, _ = first.add(GLACIER)
    assert GLACIER.title not in cited_titles(second, GLACIER_Q)
    assert second.behind()
    report = second.follow()
    assert report is not None and (report.added, report.removed, report.rebuilt) == (2, 0, False)
    assert cited_titles(second, GLACIER_Q)[0] == GLACIER.title
    assert not second.behind() and second.follow() is None
    assert [i.doc_id for i in second.library.info() if i.title == GLACIER.title] == [doc.doc_id]
    # The same index as the writer's, passage for passage.
    assert (second.searcher.data.manifest == first.searcher.data.manifest
            == IndexStore(first.settings.data_dir).read_published())
    assert sorted(second.searcher.data.passages) == sorted(first.searcher.data.passages)

    first.remove(doc.doc_id)
    report = second.follow()
    assert report is not None and (report.added, report.removed) == (0, 2)
    assert GLACIER.title not in cited_titles(second, GLACIER_Q)
    assert GLACIER.title not in [i.title for i in second.library.info()]


def test_a_change_starts_from_what_the_other_process_published(
        two: tuple[Engine, Engine]) -> None:
    """The second process adds without having followed the first's add: it takes that one in
    first, so the index it publishes holds both (and a restart finds both)."""
    first, second = two
    first.add(GLACIER)
    second.add(CONDOR)
    assert cited_titles(second, GLACIER_Q)[0] == GLACIER.title
    assert cited_titles(second, CONDOR_Q)[0] == CONDOR.title
    first.follow()
    assert cited_titles(first, CONDOR_Q)[0] == CONDOR.title
    restarted = Engine.open(first.settings, embedder=first.embedder)
    assert restarted.report.added == 0 and not restarted.report.rebuilt
    assert {GLACIER.title, CONDOR.title} <= {i.title for i in restarted.library.info()}


def test_adds_at_the_same_moment_wait_for_each_other(two: tuple[Engine, Engine]) -> None:
    """Two processes adding at once: the file lock makes one wait, and the index on disk
    loads with both articles (neither manifest overwrote the other's segment)."""
    first, second = two
    errors: list[BaseException] = []

    def add(engine: Engine, article: Article) -> None:
        try:
            engine.add(article)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(first, GLACIER)),
               threading.Thread(target=add, args=(second, CONDOR))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    loaded = IndexStore(first.settings.data_dir).load()
    titles = {p.title for p in loaded.passages.values()}
    assert {GLACIER.title, CONDOR.title, "Llamas of the Altiplano"} <= titles
    for engine in (first, second):
        engine.follow()
        assert cited_titles(engine, GLACIER_Q)[0] == GLACIER.title
        assert cited_titles(engine, CONDOR_Q)[0] == CONDOR.title


def test_a_compaction_elsewhere_is_followed_by_loading_the_index_again(
        two: tuple[Engine, Engine]) -> None:
    """When the other process rewrote the index (a compaction moved every row), the
    follower loads it whole instead of applying rows that no longer exist."""
    first, second = two
    glacier, _ = first.add(GLACIER)
    condor, _ = first.add(CONDOR)
    first.remove(glacier.doc_id)
    first.remove(condor.doc_id)  # two rows of six alive: the writer compacts
    assert len(first.searcher.data.manifest.segments) == 1
    assert first.searcher.data.manifest.segments[0].name not in {
        s.name for s in second.searcher.data.manifest.segments}
    report = second.follow()
    assert report is not None and report.rebuilt
    assert second.searcher.data.manifest == first.searcher.data.manifest
    assert cited_titles(second, "Who shears alpaca wool?")[0] == "Llamas of the Altiplano"
    assert GLACIER.title not in cited_titles(second, GLACIER_Q)


@pytest.mark.asyncio
async def test_a_running_follower_takes_in_the_other_process_change_by_itself(
        two: tuple[Engine, Engine]) -> None:
    """The loop a serving process runs: no call from the test, the add is citable within
    the poll interval."""
    first, second = two
    follower = Follower(lambda: second, interval=0.2)
    running = asyncio.create_task(follower.run())
    try:
        await asyncio.to_thread(first.add, GLACIER)
        started = time.monotonic()
        while GLACIER.title not in cited_titles(second, GLACIER_Q):
            assert time.monotonic() - started < 5, "not taken in within 5 s"
            await asyncio.sleep(0.05)
        assert follower.followed == 1
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


def test_a_change_is_announced_once_published_with_the_lock_already_released(
        two: tuple[Engine, Engine]) -> None:
    """The others may take the change in at once: when ``on_change`` runs, the index is
    published and another process could take the lock (here: the second engine follows
    from inside the callback)."""
    first, second = two
    heard: list[bool] = []

    def on_change() -> None:
        lock = second.store.writing()
        lock.acquire(timeout=5)  # filelock.Timeout if the first still held it
        lock.release()
        heard.append(second.follow() is not None)

    first.on_change = on_change
    doc, _ = first.add(GLACIER)
    assert heard == [True]
    assert cited_titles(second, GLACIER_Q)[0] == GLACIER.title
    first.refresh()  # nothing changed: nothing announced
    assert heard == [True]
    first.remove(doc.doc_id)
    assert heard == [True, True]
