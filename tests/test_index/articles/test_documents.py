"""The corpus file format: front matter, article paragraphs, reader comments."""

from pathlib import Path

import pytest

from corpus import BUNDLED_DIR
from index.articles.documents import (
    ARTICLE,
    COMMENT,
    load_corpus,
    load_document,
    parse_document,
    render_document,
)
from index.errors import CorpusError


def test_bundled_corpus_has_both_articles_with_metadata() -> None:
    """The two seed articles load with title, author, date, source and an empty url."""
    docs = {d.doc_id: d for d in load_corpus([BUNDLED_DIR])}
    assert set(docs) == {"peru-poor-wont-back-down", "peru-rural-resistance"}
    first = docs["peru-poor-wont-back-down"]
    assert first.title == "The poor in Peru won't back down in face of bloody crackdown"
    assert (first.author, first.date, first.source, first.url, first.votes) == (
        "gjohnsit", "2023-01", "blog post", "", 16)
    second = docs["peru-rural-resistance"]
    assert second.author == "W.T. Whitney Jr."
    assert second.source == "news article" and second.url == ""


def test_reader_comments_stay_attached_with_authors_and_votes() -> None:
    """Six comments follow the first post; the uncaptured one has no paragraphs."""
    doc = load_document(BUNDLED_DIR / "peru-poor-wont-back-down.md")
    comments = [s for s in doc.sections if s.kind == COMMENT]
    assert [c.votes for c in comments] == [14, 11, 12, 12, 10, 6]
    assert comments[0].paragraphs == ()
    assert comments[-1].author == "Cassiodorus"
    assert comments[-1].signature.endswith("-- Miko Peled")
    assert comments[-1].paragraphs[0].text.startswith("@gjohnsit The environmental historian")
    assert doc.sections[0].kind == ARTICLE and len(doc.sections[0].paragraphs) == 16


def test_paragraph_offsets_point_into_the_file() -> None:
    """A paragraph's offsets give back its words from the file's own text."""
    doc = load_document(BUNDLED_DIR / "peru-poor-wont-back-down.md")
    for section in doc.sections:
        for p in section.paragraphs:
            assert " ".join(doc.text[p.start:p.end].split()) == p.text


def test_hard_wrapped_lines_form_one_paragraph() -> None:
    """Lines without a blank line between them are one paragraph."""
    text = "---\ntitle: T\n---\n\nline one\nline two\n\nsecond\n"
    doc = parse_document(text, "t")
    assert [p.text for p in doc.sections[0].paragraphs] == ["line one line two", "second"]


def test_render_then_parse_round_trips() -> None:
    """What render_document writes, parse_document reads back unchanged."""
    text = render_document(title="A: title", author="Ann", date="2024-05-01", source="blog",
                           url="https://example.org/a", body="Para one.\n\nPara two.",
                           comments=[{"text": "Nice.", "author": "Bo", "votes": 3}])
    doc = parse_document(text, "a")
    assert (doc.title, doc.author, doc.url) == ("A: title", "Ann", "https://example.org/a")
    assert [p.text for p in doc.sections[0].paragraphs] == ["Para one.", "Para two."]
    assert doc.sections[1].author == "Bo" and doc.sections[1].votes == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter\n", "must start with a '---'"),
        ("---\ntitle: T\n", "not closed"),
        ("---\ntitle: [unclosed\n---\nbody\n", "malformed front matter"),
        ("---\ntitel: T\n---\nbody\n", "unknown front matter key 'titel'"),
        ("---\nauthor: A\n---\nbody\n", "needs a non-empty 'title'"),
        ("---\ntitle: T\nvotes: many\n---\nbody\n", "'votes' must be a whole number"),
        ("---\ntitle: T\n---\nbody\n\n## Comment 1\nmood: happy\n\nhi\n", "unknown key 'mood'"),
    ],
)
def test_malformed_files_are_rejected_with_a_clear_message(text: str, message: str) -> None:
    """Each kind of malformed file names its problem."""
    with pytest.raises(CorpusError, match=message):
        parse_document(text, "bad")


def test_non_utf8_file_is_rejected(tmp_path: Path) -> None:
    """A Latin-1 file gets a message asking for UTF-8."""
    path = tmp_path / "latin.md"
    path.write_bytes("---\ntitle: Caf\xe9\n---\n".encode("latin-1"))
    with pytest.raises(CorpusError, match="not UTF-8"):
        load_document(path)


def test_duplicate_ids_across_folders_are_rejected(tmp_path: Path) -> None:
    """Two files with the same name in two corpus folders are refused."""
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "same.md").write_text("---\ntitle: T\n---\nx\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="also used by"):
        load_corpus([tmp_path / "a", tmp_path / "b"])
