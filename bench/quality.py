"""One quality table: every leg on the judged collections, the project's own questions,
abstention, and the time of each stage.

    python bench/quality.py --data ../shared/data [--cache bench/results/quality]
                            [--collections cranfield cisi scifact]

Printed, in one run:

1. nDCG@10 and Recall@100 on Cranfield, CISI and SciFact test for each leg:
   BM25, MiniLM (all-MiniLM-L6-v2 with sentence scores and feedback, as the
   searcher ranks), the multilingual leg (Universal Sentence Encoder
   multilingual, whole-document cosine), and the fusion of BM25 and MiniLM
   that English questions get (``citebot eval``'s pipeline, ``index.evaluation.runner``).
   There is no second stage yet: the table says so rather than repeat a row.
2. hit@1 / hit@3 and questions answered, through ``Engine.ask`` on the bundled
   corpus, for the seed questions, their Spanish versions, and the
   abstention sets of ``bench/abstain_rates.py`` (near-topic claims in English
   and Spanish, unrelated questions).
3. The time of each stage on this machine, warm, one question at a time
   (p50 / p95 ms): the English model, the multilingual model, and a whole
   answer (embedding, ranking, citations) for English and Spanish questions.

Vectors are cached in ``--cache`` (an embedding cache per model, keyed by the
text), so a second run only ranks. Nothing is tuned here.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402
from abstain_rates import language_of, load, question_sets, rate  # noqa: E402

from index.config import Settings, load_settings  # noqa: E402
from index.evaluation import (  # noqa: E402
    DEPTH,
    load_collection,
    prepare,
    rank_queries,
    score_runs,
)
from index.retrieval.embedder import Embedder, EmbeddingCache, embed_with_cache  # noqa: E402
from index.retrieval.engine import Engine  # noqa: E402
from index.retrieval.multilingual import UniversalSentenceEncoder  # noqa: E402

COLLECTIONS = {"cranfield": "test", "cisi": "test", "scifact": "test"}


def collection_rows(data: Path, names: Sequence[str], settings: Settings, embedder: Embedder,
                    use: UniversalSentenceEncoder, cache: EmbeddingCache) -> None:
    """Part 1: each leg and the fusion on each collection."""
    print("\n## Collections: nDCG@10 / Recall@100")
    print(f"{'collection':10} {'BM25':>15} {'MiniLM':>15} {'USE (multi)':>15} "
          f"{'fused BM25+MiniLM':>18} {'second stage':>13}")
    for name in names:
        collection = load_collection(data / name, COLLECTIONS[name])
        started = time.perf_counter()
        prepared = prepare(collection, embedder, cache)
        runs = rank_queries(prepared, settings.search)
        doc_vectors = embed_with_cache(use, cache, collection.doc_texts())  # type: ignore[arg-type]
        qids = list(collection.queries)
        query_vectors = use.encode([collection.queries[q] for q in qids])
        scores = query_vectors @ doc_vectors.T
        runs["use"] = {q: [collection.doc_ids[i] for i in np.argsort(-scores[row])[:DEPTH]]
                       for row, q in enumerate(qids)}
        got = score_runs(runs, collection.qrels)

        def cell(run: str, got: dict = got) -> str:
            return f"{got[run]['ndcg@10']:.4f} / {got[run]['recall@100']:.4f}"

        print(f"{name:10} {cell('bm25'):>15} {cell('dense'):>15} {cell('use'):>15} "
              f"{cell('fused'):>18} {'not built':>13}   ({time.perf_counter() - started:.0f} s)",
              flush=True)


def question_rows(engine: Engine) -> None:
    """Part 2: the project's own questions and the abstention sets."""
    print("\n## The bundled corpus: questions answered, hit@1 / hit@3 (Engine.ask)")
    for name, rows in question_sets(language_of(engine)).items():
        print(rate(engine, rows).line(name), flush=True)


def timed(call: Callable[[str], object], texts: Sequence[str], warm: int = 3) -> str:
    """p50 / p95 milliseconds of ``call`` over ``texts``, one at a time, after a warm-up."""
    for text in texts[:warm]:
        call(text)
    times = []
    for text in texts:
        started = time.perf_counter()
        call(text)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return f"{statistics.median(times):6.1f} / {times[int(0.95 * (len(times) - 1))]:6.1f}"


def latency_rows(engine: Engine) -> None:
    """Part 3: the time of each stage, warm."""
    english = [r["question"] for r in load("seed_questions.jsonl")]
    spanish = [r["question"] for r in load("seed_questions_es.jsonl")]
    print("\n## Stages, one question at a time, warm: p50 / p95 ms")
    english_model = timed(lambda q: engine.embedder.encode([q]), english)
    print(f"English model, one question        {english_model}")
    if engine.multilingual is not None:
        model = engine.multilingual.model
        print(f"multilingual model, one question   {timed(lambda q: model.encode([q]), spanish)}")
    print(f"whole answer, English questions    {timed(engine.ask, english)}")
    print(f"whole answer, Spanish questions    {timed(engine.ask, spanish)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder holding cranfield, cisi, scifact")
    parser.add_argument("--collections", nargs="*", default=list(COLLECTIONS),
                        choices=list(COLLECTIONS))
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "quality",
                        help="where vectors are cached between runs")
    args = parser.parse_args()
    settings = load_settings(environ={})
    args.cache.mkdir(parents=True, exist_ok=True)
    engine = Engine.open(dataclasses.replace(settings, index=dataclasses.replace(
        settings.index, data_dir=tempfile.mkdtemp(prefix="citebot-quality-"))))
    print(f"model precision {engine.embedder.precision}; multilingual leg "
          f"{'on' if engine.multilingual is not None else 'off'}; min_score "
          f"{settings.search.min_score}, multilingual_min_score "
          f"{settings.search.multilingual_min_score}")
    question_rows(engine)
    latency_rows(engine)
    if args.data:
        cache = EmbeddingCache(args.cache / "embeddings.sqlite")
        use = UniversalSentenceEncoder()
        collection_rows(args.data, args.collections, settings, engine.embedder, use, cache)
        cache.close()
    engine.close()


if __name__ == "__main__":
    main()
