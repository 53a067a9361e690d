"""Ingestion cost: adding a 1,500-word article, and an add against a full rebuild by corpus size.

    python bench/ingest.py [--sizes 2000 10000]

* add: a 1,500-word article (paragraphs of the bundled articles, each made
  distinct) added from a local file to an engine over the bundled corpus;
* for each size N: a corpus of about N passages is synthesised from the bundled
  paragraphs (shuffled, each with a distinct marker sentence, so no vector comes
  from the cache), indexed from scratch (the full rebuild), then one 1,500-word
  article is added (the incremental add). Both are timed, and the add is split
  into its parts so it is visible which grow with the corpus.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from corpus import BUNDLED_DIR  # noqa: E402
from index.config import Settings, load_settings  # noqa: E402
from index.documents import load_corpus, render_document  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.engine import Engine  # noqa: E402
from index.extract import from_file  # noqa: E402


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
    """About ``passages`` passages in 20-paragraph articles, every paragraph distinct."""
    pool = paragraphs()
    rng = random.Random(passages)
    folder.mkdir(parents=True)
    for n in range(passages // 20):
        body = "\n\n".join(f"{rng.choice(pool)} Marker {n}-{i}." for i in range(20))
        (folder / f"synthetic-{n:05d}.md").write_text(
            render_document(title=f"Synthetic report {n}", body=body), encoding="utf-8")


def settings_for(base: Settings, data: Path, corpus: Path | None) -> Settings:
    settings = dataclasses.replace(base, index=dataclasses.replace(base.index, data_dir=str(data)))
    if corpus is not None:
        settings = dataclasses.replace(settings, corpus=dataclasses.replace(
            settings.corpus, bundled=False, dirs=[str(corpus)]))
    return settings


def timed_add(engine: Engine, path: Path) -> dict[str, float]:
    start = time.perf_counter()
    article = from_file(path)
    article = dataclasses.replace(article, title=f"Report {path.stem}")
    doc = engine.library.add(article)
    stored = time.perf_counter()
    report = engine.refresh()
    end = time.perf_counter()
    return {"add_seconds": round(end - start, 2), "store_file_seconds": round(stored - start, 2),
            "index_update_seconds": round(end - stored, 2), "passages_added": report.added,
            "doc": doc.doc_id}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[2000])
    args = parser.parse_args()
    base = load_settings()
    embedder = Embedder(base.model.name)
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        engine = Engine.open(settings_for(base, tmp / "bundled", None), embedder=embedder)
        results["bundled_corpus_add_1500_words"] = timed_add(engine, article_file(tmp, "a1500"))
        for size in args.sizes:
            corpus = tmp / f"corpus-{size}"
            synthetic_corpus(corpus, size)
            start = time.perf_counter()
            engine = Engine.open(settings_for(base, tmp / f"data-{size}", corpus),
                                 embedder=embedder)
            rebuild = time.perf_counter() - start
            add = timed_add(engine, article_file(tmp, f"add{size}"))
            results[f"corpus_{engine.report.total}_passages"] = {
                "full_rebuild_seconds": round(rebuild, 1), **add}
            print(json.dumps({size: results[f"corpus_{engine.report.total}_passages"]}),
                  file=sys.stderr)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
