"""float32 against bfloat16 for the embedding model: speed, vector agreement, quality.

    python bench/precision.py [--collections ../shared/data/cranfield ...] [--split test]

Prints, for each precision this CPU can run natively (bfloat16 only where it has
AVX512-BF16 or AMX instructions, see ``index.retrieval.embedder.native_bfloat16``):

- the time to embed 50 distinct questions in one call (the bot's micro-batch at
  50 people asking at once), median of 7, and passages per second on the
  bundled corpus;
- the cosine between each question's and passage's float32 and bfloat16
  vectors (the smallest and the mean);
- nDCG@10 and Recall@100 of the BM25, dense and fused runs on each collection
  given (``citebot eval``'s pipeline), so the choice of "auto" is measured
  against the quality it must keep (within 0.005 of float32).

Nothing is tuned here: the same settings run at both precisions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

from index.articles.library import Library  # noqa: E402
from index.articles.passages import split_corpus  # noqa: E402
from index.config import load_settings  # noqa: E402
from index.evaluation import evaluate, load_collection  # noqa: E402
from index.retrieval.embedder import Embedder, native_bfloat16  # noqa: E402


def questions() -> list[str]:
    """50 distinct questions from the project's own question sets."""
    seen: dict[str, None] = {}
    for name in ("seed_questions.jsonl", "near_topic.jsonl", "seed_questions_es.jsonl"):
        for line in (HERE / "data" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                seen[json.loads(line)["question"]] = None
    return list(seen)[:50]


def median_ms(embedder: Embedder, texts: list[str], repeats: int = 7) -> float:
    embedder.encode(texts)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        embedder.encode(texts)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", nargs="*", type=Path, default=[])
    parser.add_argument("--split", default="test")
    args = parser.parse_args()

    settings = load_settings(environ={})
    precisions = ["float32"] + (["bfloat16"] if native_bfloat16("cpu") else [])
    if len(precisions) == 1:
        print("this CPU has no bfloat16 instructions: 'auto' runs float32 here")
    asked = questions()
    models = {p: Embedder(settings.model.name, settings.model.device,
                          settings.model.batch_size, p) for p in precisions}
    first = models["float32"]
    passages = [p.embed_text(settings.index.embed_title) for p in split_corpus(
        Library(settings).documents(), first.count_tokens, settings.index.max_passage_tokens,
        first.max_tokens, settings.index.embed_title)]
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    print(f"{'precision':10} {'50 questions, ms':>17} {'passages/s':>11}")
    for precision, model in models.items():
        ms = median_ms(model, asked)
        start = time.perf_counter()
        passage_vectors = model.encode(passages)
        rate = len(passages) / (time.perf_counter() - start)
        vectors[precision] = (model.encode(asked), passage_vectors)
        print(f"{precision:10} {ms:17.1f} {rate:11.1f}")
    if "bfloat16" in vectors:
        for what, i in (("questions", 0), ("passages", 1)):
            cos = (vectors["float32"][i] * vectors["bfloat16"][i]).sum(axis=1)
            print(f"cosine float32 vs bfloat16, {what}: min {cos.min():.6f} mean {cos.mean():.6f}")
    for folder in args.collections:
        collection = load_collection(folder, args.split)
        for precision, model in models.items():
            result = evaluate(collection, model, None, settings.search)
            runs = result["runs"]
            line = "  ".join(f"{run} nDCG@10 {m['ndcg@10']:.4f} R@100 {m['recall@100']:.4f}"
                             for run, m in runs.items())
            print(f"{collection.name:10} {args.split:5} {precision:9} {line}", flush=True)


if __name__ == "__main__":
    main()
