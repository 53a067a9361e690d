"""Passage splitting with the real tokenizer: sizes, sentence boundaries, ids, offsets."""

import itertools

from corpus import BUNDLED_DIR
from index.articles.documents import load_corpus, parse_document
from index.articles.passages import split_corpus, split_document
from index.articles.sentences import split_sentences
from index.retrieval.embedder import Encoder


def test_every_passage_fits_the_model_and_keeps_its_sentences(embedder: Encoder) -> None:
    """No passage exceeds the model's limit, and each is made of whole sentences."""
    docs = load_corpus([BUNDLED_DIR])
    passages = split_corpus(docs, embedder.count_tokens, 64, embedder.max_tokens, True)
    by_id = {d.doc_id: d for d in docs}
    for p in passages:
        assert embedder.count_tokens(p.embed_text(True)) <= embedder.max_tokens
        doc = by_id[p.doc_id]
        assert " ".join(doc.text[p.start:p.end].split()) == p.text
        paragraph_sentences = set()
        for section in doc.sections:
            for para in section.paragraphs:
                if para.start <= p.start and p.end <= para.end:
                    paragraph_sentences = set(split_sentences(para.text))
        assert set(split_sentences(p.text)) <= paragraph_sentences


def test_passages_know_their_source(embedder: Encoder) -> None:
    """Comment passages carry the commenter and comment number; article ones the author."""
    docs = load_corpus([BUNDLED_DIR])
    passages = split_corpus(docs, embedder.count_tokens, 128, embedder.max_tokens, True)
    cassiodorus = [p for p in passages if p.author == "Cassiodorus"]
    assert cassiodorus and all(p.kind == "comment" and p.comment == 6 for p in cassiodorus)
    assert cassiodorus[0].citation_label() == "reader comment 6 by Cassiodorus, paragraph 1"
    article = next(p for p in passages if p.doc_id == "peru-rural-resistance")
    assert article.citation_label() == "W.T. Whitney Jr. · article, paragraph 1"


def test_ids_are_stable_and_unique(embedder: Encoder) -> None:
    """Splitting twice gives the same ids; no two passages share one."""
    docs = load_corpus([BUNDLED_DIR])
    first = split_corpus(docs, embedder.count_tokens, 128, embedder.max_tokens, True)
    second = split_corpus(docs, embedder.count_tokens, 128, embedder.max_tokens, True)
    assert [p.passage_id for p in first] == [p.passage_id for p in second]
    assert len({p.passage_id for p in first}) == len(first)


def test_long_paragraph_is_cut_between_sentences_with_overlap(embedder: Encoder) -> None:
    """A paragraph over budget becomes windows that share a sentence."""
    sentences = [f"Sentence number {i} talks about the protests in region {i}." for i in range(12)]
    doc = parse_document("---\ntitle: T\n---\n\n" + " ".join(sentences) + "\n", "long")
    passages = split_document(doc, embedder.count_tokens, 40, embedder.max_tokens, False)
    assert len(passages) > 2
    for a, b in itertools.pairwise(passages):
        assert split_sentences(a.text)[-1] == split_sentences(b.text)[0]
    assert all(embedder.count_tokens(p.text) <= 40 for p in passages)


def test_oversized_sentence_is_split_not_truncated(embedder: Encoder) -> None:
    """A single sentence longer than the model reads is split at words, losing nothing."""
    words = " ".join(f"word{i}" for i in range(600))
    doc = parse_document(f"---\ntitle: T\n---\n\n{words}\n", "huge")
    passages = split_document(doc, embedder.count_tokens, 128, embedder.max_tokens, False)
    assert len(passages) > 1
    assert " ".join(p.text for p in passages) == words
    assert all(embedder.count_tokens(p.text) <= embedder.max_tokens for p in passages)
