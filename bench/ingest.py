"""Ingestion cost: adding a 1,500-word article, and an add against a full rebuild by corpus size.

    python bench/ingest.py [--sizes 10000 100000] [--adds 3]

* add: a 1,500-word article (paragraphs of the bundled articles, each made
  distinct) added from a local file to an engine over the bundled corpus;
* for each size N: a corpus of about N passages is synthesised by repeating and
  shuffling the bundled paragraphs in 20-paragraph articles (distinct files,
  so distinct passage ids). The repeated passages share their embedded text, so
  the full rebuild takes their vectors from the embedding cache: embedding
  100,000 passages here would take about an hour, so the rebuild is timed
  without it and the embedding time is estimated from the rate this run
  measures. Then ``--adds`` fresh 1,500-word articles are added and removed one
  by one through ``Engine.add``/``remove`` (embedded for real; medians
  reported), and the start-up time of an engine over the stored index is timed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from corpus import BUNDLED_DIR  # noqa: E402
from index.articles.documents import load_corpus, render_document  # noqa: E402
from index.articles.extract import from_file  # noqa: E402
from index.config import Settings, load_settings  # noqa: E402
from index.retrieval.embedder import load_encoder  # noqa: E402
from index.retrieval.engine import Engine  # noqa: E402


def paragraphs() -> list[str]:
    docs = load_corpus([BUNDLED_DIR])
    return [p.text for d in docs for s in d.sections for p in s.paragraphs]


def article_file(folder: Path, tag: str, words: int = 1500) -> Path:
    """A text file of about ``words`` words made of real paragraphs, unique to ``tag``."""
    rng = random.Random(tag)
    pool = paragraphs()
    out: list[str] = []
    count = 0
    while count < words:
        text = f"{rng.choice(pool)} This is part {len(out)} of report {tag}."
        out.append(text)
        count += len(text.split())
    path = folder / f"{tag}.txt"
    path.write_text("\n\n".join(out), encoding="utf-8")
    return path


def synthetic_corpus(folder: Path, passages: int) -> None:
    """About ``passages`` passages: bundled paragraphs repeated and shuffled, 20 per file."""
    pool = paragraphs()
    rng = random.Random(passages)
    folder.mkdir(parents=True)
    for n in range(passages // 20):
        body = "\n\n".join(rng.sample(pool, 20))
        (folder / f"synthetic-{n:06d}.md").write_text(
            render_document(title="Synthetic report", body=body), encoding="utf-8")


def settings_for(base: Settings, data: Path, corpus: Path | None) -> Settings:
    settings = dataclasses.replace(base, index=dataclasses.replace(base.index, data_dir=str(data)))
    if corpus is not None:
        settings = dataclasses.replace(settings, corpus=dataclasses.replace(
            settings.corpus, bundled=False, dirs=[str(corpus)]))
    return settings


def timed_add(engine: Engine, path: Path) -> dict[str, float]:
    """Add one article file and remove it again, timing each part."""
    start = time.perf_counter()
    article = from_file(path)
    article = dataclasses.replace(article, title=f"Report {path.stem}")
    doc, report = engine.add(article)
    end = time.perf_counter()
    engine.remove(doc.doc_id)
    removed = time.perf_counter()
    return {"add_seconds": end - start, "passages_added": report.added,
            "remove_seconds": removed - end}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10000])
    parser.add_argument("--adds", type=int, default=3, help="articles added per size")
    args = parser.parse_args()
    base = load_settings()
    embedder = load_encoder(base.model)
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        start = time.perf_counter()
        engine = Engine.open(settings_for(base, tmp / "bundled", None), embedder=embedder)
        build = time.perf_counter() - start
        texts = sum(1 + len(p.sentences) for p in engine.searcher.data.passages.values())
        rate = texts / build
        results["embedding_rate_texts_per_second"] = round(rate, 1)
        results["bundled_corpus_add_1500_words"] = median_of(
            [timed_add(engine, article_file(tmp, f"a1500-{n}")) for n in range(args.adds)])
        for size in args.sizes:
            corpus = tmp / f"corpus-{size}"
            synthetic_corpus(corpus, size)
            settings = settings_for(base, tmp / f"data-{size}", corpus)
            start = time.perf_counter()
            engine = Engine.open(settings, embedder=embedder)
            rebuild = time.perf_counter() - start
            live = engine.searcher.data.passages.values()
            texts = sum(1 + len(p.sentences) for p in live)
            start = time.perf_counter()
            engine = Engine.open(settings, embedder=embedder)
            reopen = time.perf_counter() - start
            adds = [timed_add(engine, article_file(tmp, f"add{size}-{n}"))
                    for n in range(args.adds)]
            started = time.perf_counter()
            engine.ask("Why are people protesting in Peru?")
            query = time.perf_counter() - started
            row = {
                "passages": engine.report.total,
                "full_rebuild_seconds_vectors_cached": round(rebuild, 1),
                "estimated_full_rebuild_seconds_with_embedding": round(rebuild + texts / rate),
                "start_with_stored_index_seconds": round(reopen, 1),
                "query_seconds": round(query, 3),
                **median_of(adds),
            }
            results[f"corpus_{size}"] = row
            print(json.dumps({size: row}), file=sys.stderr)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
