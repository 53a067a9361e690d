"""Sentence boundaries: abbreviations, initials, quotes and unpunctuated line ends."""

from index.articles.sentences import sentence_spans, split_sentences


def test_initials_and_abbreviations_do_not_end_sentences() -> None:
    """W.T., Jr. and U.S. stay inside their sentences."""
    text = "W.T. Whitney Jr. is a journalist. The U.S. government is meddling. It is."
    assert split_sentences(text) == [
        "W.T. Whitney Jr. is a journalist.",
        "The U.S. government is meddling.",
        "It is.",
    ]


def test_quotes_and_exclamations() -> None:
    """Closing quotes stay with their sentence; ! and ? end sentences."""
    text = "“But I did take part.” Why that never happened before! Or did it?"
    assert split_sentences(text) == ["“But I did take part.”", "Why that never happened before!",
                                     "Or did it?"]


def test_unpunctuated_line_end_before_capital_is_a_boundary() -> None:
    """A comment line without a full stop, followed by a capitalised line, ends a sentence."""
    text = "we do not rely on the MSM\nWe have better sources.\nthe next line continues"
    assert split_sentences(text) == ["we do not rely on the MSM",
                                     "We have better sources.\nthe next line continues"]


def test_spans_cover_text_without_outer_whitespace() -> None:
    """Spans index into the original text and carry no leading or trailing spaces."""
    text = "  One.  Two three.   "
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == ["One.", "Two three."]
