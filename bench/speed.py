"""Speed: warm query latency, indexing throughput, cold start of `citebot ask`, peak memory.

    python bench/speed.py [--queries 200] [--copies 20]

* warm latency: the seed questions asked repeatedly of a loaded engine
  (model in memory, index loaded), p50 and p95 in milliseconds;
* indexing throughput: the bundled corpus copied ``--copies`` times under new
  document ids, indexed from scratch with no embedding cache (passage and
  sentence vectors), in passages per second;
* cold start: wall time of ``citebot ask`` as a new process, first with no
  index (it builds one) and then with the index on disk; median of 3 runs;
* peak memory: maximum resident set size of those processes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from corpus import BUNDLED_DIR  # noqa: E402
from index.articles.documents import load_corpus  # noqa: E402
from index.config import load_settings  # noqa: E402
from index.retrieval.embedder import Encoder, load_encoder  # noqa: E402
from index.retrieval.engine import Engine  # noqa: E402
from index.retrieval.indexer import update_index  # noqa: E402
from index.retrieval.store import IndexStore  # noqa: E402


def warm_latency(engine: Engine, n: int) -> dict[str, float]:
    questions = [json.loads(line)["question"] for line in
                 (HERE / "data" / "seed_questions.jsonl").read_text("utf-8").splitlines()]
    engine.ask(questions[0])
    times = []
    for i in range(n):
        start = time.perf_counter()
        engine.ask(questions[i % len(questions)])
        times.append((time.perf_counter() - start) * 1000)
    return {"warm_p50_ms": round(float(np.percentile(times, 50)), 1),
            "warm_p95_ms": round(float(np.percentile(times, 95)), 1)}


def throughput(embedder: Encoder, settings, copies: int, tmp: Path) -> dict[str, float]:
    corpus = tmp / "corpus"
    corpus.mkdir()
    for n in range(copies):
        for path in BUNDLED_DIR.glob("*.md"):
            if path.name != "README.md":
                shutil.copy(path, corpus / f"{path.stem}-copy{n}.md")
    settings = dataclasses.replace(
        settings,
        corpus=dataclasses.replace(settings.corpus, bundled=False, dirs=[str(corpus)]),
    )
    docs = load_corpus(settings.corpus_dirs())
    start = time.perf_counter()
    data, report = update_index(IndexStore(tmp / "data"), docs, embedder, None, settings)
    seconds = time.perf_counter() - start
    sentences = data.live.sentence_vectors.size()
    return {"indexed_passages": report.total, "indexed_sentences": int(sentences),
            "index_seconds": round(seconds, 1),
            "passages_per_second": round(report.total / seconds, 1)}


def cold_start(tmp: Path) -> dict[str, float]:
    env = {**os.environ, "CITEBOT_DATA_DIR": str(tmp / "cold")}
    command = [sys.executable, "-m", "citebot", "ask", "How many roadblocks were there?"]

    def once() -> float:
        start = time.perf_counter()
        subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - start

    first = once()
    warm = sorted(once() for _ in range(3))[1]
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"cold_start_first_run_s": round(first, 2), "cold_start_s": round(warm, 2),
            "cli_peak_rss_mb": round(peak_kb / 1024, 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--copies", type=int, default=20)
    args = parser.parse_args()
    settings = load_settings()
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        result.update(cold_start(tmp))
        embedder = load_encoder(settings.model)
        local = dataclasses.replace(
            settings, index=dataclasses.replace(settings.index, data_dir=str(tmp / "warm")))
        engine = Engine.open(local, embedder=embedder)
        result.update(warm_latency(engine, args.queries))
        result.update(throughput(embedder, settings, args.copies, tmp))
    result["bench_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
