"""``citebot eval``: retrieval quality (BM25, dense, fused) on a judged test collection.

Named ``eval_`` so that importing it never shadows the builtin ``eval``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from citebot.exits import EXIT_OK
from citebot.terminal import print_json, progress_bar
from index.config import Settings


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot eval``: BM25, dense and fused quality on a judged collection."""
    from index.evaluation import evaluate, load_collection
    from index.retrieval import EmbeddingCache, load_encoder, prepare_data_dir

    collection = load_collection(Path(args.collection), args.split)
    data_dir = prepare_data_dir(settings.data_dir)
    embedder = load_encoder(settings.model)
    cache = EmbeddingCache(data_dir / "embeddings.sqlite")
    with progress_bar("embedding documents") as progress:
        result = evaluate(collection, embedder, cache, settings.search, progress)
    if args.json:
        print_json(result)
        return EXIT_OK
    runs = result["runs"]
    assert isinstance(runs, dict)
    print(f"{collection.name}: {len(collection.queries)} judged queries, "
          f"{len(collection.doc_ids)} documents")
    print(f"{'run':<8}{'nDCG@10':>10}{'MRR@10':>10}{'R@100':>10}")
    for name, m in runs.items():
        print(f"{name:<8}{m['ndcg@10']:>10.4f}{m['mrr@10']:>10.4f}{m['recall@100']:>10.4f}")
    return EXIT_OK
