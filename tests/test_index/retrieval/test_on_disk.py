"""Passages and sentence vectors stay on disk: read for the passages a question needs only."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from index.articles.passages import Passage
from index.errors import IndexCorruptError
from index.retrieval.embedder import Encoder
from index.retrieval.engine import Engine
from index.retrieval.passage_table import PassageTable, StoredPassages, write_table
from index.retrieval.search import Searcher
from index.retrieval.sentence_rows import SentenceRows, save_rows
from index.retrieval.store import IndexStore


def passage(i: int, **fields: object) -> Passage:
    text = f"Sentence one of passage {i}. Sentence two, with ñ and “quotes”."
    values: dict[str, object] = dict(
        passage_id=f"p{i}", doc_id=f"d{i // 2}", title=f"Title {i}", author="A. Writer",
        kind="article", comment=0, paragraph=i + 1, start=0, end=len(text), text=text,
        scope="" if i % 3 else "guild-7", sentences=((0, 28), (29, len(text))))
    values.update(fields)
    return Passage(**values)  # type: ignore[arg-type]


def test_stored_passages_read_back_by_row_in_order_and_as_columns(tmp_path: Path) -> None:
    passages = [passage(i) for i in range(5)] + [passage(5, part="bio", sentences=())]
    write_table(tmp_path, passages, "p.jsonl", "t.npz")
    stored = StoredPassages(tmp_path, "p.jsonl", "t.npz", len(passages))
    assert [stored[i] for i in range(6)] == passages
    assert list(stored) == passages
    assert stored[-1] == passages[-1] and stored[1:3] == passages[1:3]
    with pytest.raises(IndexError):
        stored[6]
    columns = stored.columns
    assert columns.ids == [p.passage_id for p in passages]
    assert columns.doc_ids == [p.doc_id for p in passages]
    assert columns.scopes == [p.scope for p in passages]
    assert columns.bio.tolist() == [False] * 5 + [True]
    assert columns.sentences.tolist() == [2] * 5 + [0]

    table = PassageTable()
    table.extend(stored)
    table.extend([passage(10)])
    table.extend([passage(11)])
    assert len(table) == 8 and table[6] == passage(10) and table[7] == passage(11)
    assert table[5] == passages[5] and list(table) == [*passages, passage(10), passage(11)]


def test_a_table_that_does_not_describe_its_passages_is_refused(tmp_path: Path) -> None:
    passages = [passage(i) for i in range(3)]
    write_table(tmp_path, passages, "p.jsonl", "t.npz")
    with pytest.raises(IndexCorruptError):
        StoredPassages(tmp_path, "p.jsonl", "t.npz", 4)
    lines = tmp_path / "p.jsonl"
    lines.write_bytes(lines.read_bytes()[:-5])
    with pytest.raises(IndexCorruptError):
        StoredPassages(tmp_path, "p.jsonl", "t.npz", 3)
    # Damage of the same size is found when the passage is read, not served as garbage.
    write_table(tmp_path, passages, "p.jsonl", "t.npz")
    raw = bytearray(lines.read_bytes())
    raw[3:9] = b"\x00" * 6
    lines.write_bytes(bytes(raw))
    stored = StoredPassages(tmp_path, "p.jsonl", "t.npz", 3)
    assert stored[1] == passages[1]
    with pytest.raises(IndexCorruptError):
        stored[0]


def test_sentence_rows_read_runs_from_files_and_memory(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    stored, added = rng.standard_normal((10, 8)), rng.standard_normal((5, 8))
    save_rows(tmp_path / "s.npy", stored)
    rows = SentenceRows(8)
    rows.attach(tmp_path / "s.npy", 10)
    rows.add(added)
    every = np.vstack([stored, added]).astype(np.float16).astype(np.float32)
    assert rows.size() == 15
    assert np.array_equal(rows.runs(np.array([3, 9, 12]), np.array([2, 1, 3])),
                          every[[3, 4, 9, 12, 13, 14]])
    wanted = np.array([0, 1, 2, 8, 9, 10, 11, 14])  # a run that crosses file and memory
    assert np.array_equal(rows.vectors(wanted), every[wanted])
    with pytest.raises(IndexCorruptError):
        SentenceRows(8).attach(tmp_path / "s.npy", 11)
    with pytest.raises(IndexCorruptError):
        SentenceRows(4).attach(tmp_path / "s.npy", 10)


def test_a_load_reads_no_passage_and_a_question_reads_only_what_it_cites(
        tmp_path: Path, embedder: Encoder, engine: Engine,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole bundled corpus loads without reading one passage record; an answer reads
    the few it considers citing, not the corpus."""
    shutil.copytree(engine.settings.data_dir / "index", tmp_path / "index")
    reads: list[str] = []
    original = Passage.from_record

    def counted(record: dict[str, object]) -> Passage:
        found = original(record)
        reads.append(found.passage_id)
        return found

    monkeypatch.setattr(Passage, "from_record", staticmethod(counted))
    data = IndexStore(tmp_path).load()
    assert reads == []
    assert len(data.live) == len(engine.searcher.data.live) > 8 * engine.settings.search.top_k
    searcher = Searcher(data, embedder, engine.settings.search)
    answer = searcher.search("Why did protesters march to Lima?")
    assert answer.answered
    assert 0 < len(set(reads)) <= 4 * engine.settings.search.top_k
    assert {c.passage.passage_id for c in answer.results} <= set(reads)
    # The answer equals the engine's, whose index was built with its passages in memory.
    assert [c.passage for c in answer.results] == [
        c.passage for c in engine.ask("Why did protesters march to Lima?").results]
