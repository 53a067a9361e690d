"""Articles: the corpus files, their passages and sentences, and adding or removing one.

An article comes in as a URL (``fetch``: the network rules), a file or pasted text
(``extract``, ``ingest``), is written in the corpus format (``documents``) to the
library of a scope (``library``), and is cut into passages (``passages``) at
sentence boundaries (``sentences``).
"""

from index._exports import lazy_exports

_WHERE = {
    "ARTICLE": "documents",
    "BIO": "documents",
    "BIO_HEADING": "documents",
    "COMMENT": "documents",
    "CONTENT": "documents",
    "Document": "documents",
    "Paragraph": "documents",
    "Section": "documents",
    "load_corpus": "documents",
    "load_document": "documents",
    "parse_document": "documents",
    "render_document": "documents",
    "Article": "extract",
    "Comment": "extract",
    "decode_text": "extract",
    "from_file": "extract",
    "from_html": "extract",
    "from_pdf": "extract",
    "from_plain": "extract",
    "FetchPolicy": "fetch",
    "Fetched": "fetch",
    "check_url": "fetch",
    "policy_from": "fetch",
    "READABLE": "ingest",
    "check_upload": "ingest",
    "from_fetched": "ingest",
    "from_upload": "ingest",
    "read_url": "ingest",
    "GLOBAL_FOLDER": "library",
    "ArticleInfo": "library",
    "Library": "library",
    "check_scope": "library",
    "Passage": "passages",
    "split_corpus": "passages",
    "split_document": "passages",
    "sentence_spans": "sentences",
    "split_sentences": "sentences",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
