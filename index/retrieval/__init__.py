"""Retrieval: from a question to the passages that answer it, or to none.

``Engine`` is the one object callers hold: the model (``embedder``), the index on
disk (``store``) and in memory (``live``), the keyword (``keyword``) and dense legs
fused (``fusion``) by the ``search``, and ``batching`` for questions asked together.
"""

from index._exports import lazy_exports

_WHERE = {
    "Engine": "engine",
    "prepare_data_dir": "engine",
    "GLOBAL_SCOPE": "search",
    "Answer": "search",
    "Citation": "search",
    "Query": "search",
    "Searcher": "search",
    "Batcher": "batching",
    "Embedder": "embedder",
    "Encoder": "embedder",
    "load_encoder": "embedder",
    "EmbeddingCache": "embedder",
    "Progress": "embedder",
    "resolve_model": "embedder",
    "MAX_QUESTION_CHARS": "questions",
    "clean_question": "questions",
    "IndexReport": "indexer",
    "update_index": "indexer",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
