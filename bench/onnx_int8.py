"""torch float32 and bfloat16 against onnxruntime int8 (and float32): speed, agreement, quality.

    python bench/onnx_int8.py [--passages 2000] [--rounds 3]
        [--collections ../shared/data/cranfield ../shared/data/cisi ../shared/data/scifact]
        [--onnx-cache /tmp/citebot-onnx] [--vectors /tmp/citebot-onnx/vectors.sqlite]

Prints one JSON object:

- ``speed``: passages per second on ``--passages`` real passages (the bundled
  corpus cut as the indexer cuts it, then SciFact documents cut to 128 word
  pieces), and questions per second for 50 distinct questions embedded in one
  call (the bot's micro-batch), for each backend. The machine is shared, so
  each figure is the best of ``--rounds`` interleaved rounds (the median is
  printed too), and the load average is recorded;
- ``cosine``: the smallest and the mean cosine of each backend's vectors with
  torch float32's, for the passages and the questions;
- ``quality``: nDCG@10 and Recall@100 of the BM25, dense and fused runs
  (``citebot eval``'s pipeline) on each collection, torch float32 against
  onnx int8, and the differences. Vectors go through an embedding cache of the
  bench's own (``--vectors``, never the data directory's); the int8 model has
  its own name there (``all-MiniLM-L6-v2#onnx-int8``), so a second run costs only
  the queries.

The ONNX files are exported and quantized into ``--onnx-cache`` on first use.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402
from precision import questions  # noqa: E402  (bench/precision.py: the same 50 questions)

from index.articles.library import Library  # noqa: E402
from index.articles.passages import split_corpus  # noqa: E402
from index.config import load_settings  # noqa: E402
from index.evaluation import evaluate, load_collection  # noqa: E402
from index.retrieval.embedder import (  # noqa: E402
    Embedder,
    EmbeddingCache,
    native_bfloat16,
    resolve_model,
)
from index.retrieval.onnx_encoder import OnnxEncoder  # noqa: E402

SCIFACT = HERE.parent.parent / "shared" / "data" / "scifact"


def passages(model: Embedder, count: int, max_tokens: int) -> list[str]:
    """The bundled corpus's passages, then SciFact documents cut to ``max_tokens`` pieces."""
    settings = load_settings(environ={})
    out = [p.embed_text(settings.index.embed_title) for p in split_corpus(
        Library(settings).documents(), model.count_tokens, max_tokens, model.max_tokens,
        settings.index.embed_title)]
    from tokenizers import Tokenizer

    fast = Tokenizer.from_file(str(Path(resolve_model(model.name)) / "tokenizer.json"))
    fast.no_truncation()
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if len(out) >= count:
                break
            record = json.loads(line)
            text = f"{record.get('title', '')}\n\n{record.get('text', '')}".strip()
            encoding = fast.encode(text, add_special_tokens=False)
            if len(encoding.offsets) > max_tokens:
                text = text[: encoding.offsets[max_tokens - 1][1]]
            out.append(text)
    return out[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--collections", nargs="*", type=Path, default=[])
    parser.add_argument("--split", default="test")
    parser.add_argument("--onnx-cache", type=Path, default=Path("/tmp/citebot-onnx"))
    parser.add_argument("--vectors", type=Path, default=Path("/tmp/citebot-onnx/vectors.sqlite"))
    parser.add_argument("--no-onnx-float32", action="store_true",
                        help="leave out onnxruntime float32")
    args = parser.parse_args()

    settings = load_settings(environ={})
    name, size = settings.model.name, settings.model.batch_size
    started = time.perf_counter()
    models: dict[str, Embedder | OnnxEncoder] = {
        "torch-float32": Embedder(name, "cpu", size, "float32")}
    if native_bfloat16("cpu"):
        models["torch-bfloat16"] = Embedder(name, "cpu", size, "bfloat16")
    models["onnx-int8"] = OnnxEncoder(name, args.onnx_cache, "int8")
    if not args.no_onnx_float32:
        models["onnx-float32"] = OnnxEncoder(name, args.onnx_cache, "float32")
    load_seconds = time.perf_counter() - started
    reference = models["torch-float32"]
    assert isinstance(reference, Embedder)
    texts = passages(reference, args.passages, settings.index.max_passage_tokens)
    asked = questions()
    tokens = [reference.count_tokens(t) for t in texts]

    rates: dict[str, list[float]] = {k: [] for k in models}
    question_rates: dict[str, list[float]] = {k: [] for k in models}
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for model in models.values():  # warm-up: first calls allocate and compile kernels
        model.encode(asked)
        model.encode(texts[:64])
    for round_ in range(args.rounds):
        for key, model in models.items():
            start = time.perf_counter()
            passage_vectors = model.encode(texts)
            rates[key].append(len(texts) / (time.perf_counter() - start))
            times = []
            for _ in range(7):
                start = time.perf_counter()
                question_vectors = model.encode(asked)
                times.append(time.perf_counter() - start)
            question_rates[key].append(len(asked) / statistics.median(times))
            vectors[key] = (passage_vectors, question_vectors)
            print(f"round {round_ + 1} {key:15} {rates[key][-1]:6.1f} passages/s "
                  f"{question_rates[key][-1]:6.1f} questions/s "
                  f"(load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)

    result: dict[str, object] = {
        "machine": {"cores": os.cpu_count(), "loadavg_after_speed": os.getloadavg(),
                    "model_load_seconds": round(load_seconds, 1)},
        "batch_size": {k: m.batch_size for k, m in models.items()},
        "onnx_files": {k: str(m.path) for k, m in models.items() if isinstance(m, OnnxEncoder)},
        "passages": {"count": len(texts), "mean_tokens": round(float(np.mean(tokens)), 1),
                     "max_tokens": int(max(tokens))},
        "speed": {k: {"passages_per_s": round(max(rates[k]), 1),
                      "passages_per_s_median": round(statistics.median(rates[k]), 1),
                      "questions_per_s": round(max(question_rates[k]), 1),
                      "questions_per_s_median": round(statistics.median(question_rates[k]), 1)}
                  for k in models},
        "cosine_vs_torch_float32": {},
        "quality": {},
    }
    cosines = result["cosine_vs_torch_float32"]
    assert isinstance(cosines, dict)
    for key in models:
        if key == "torch-float32":
            continue
        entry = {}
        for what, i in (("passages", 0), ("questions", 1)):
            cos = (vectors["torch-float32"][i] * vectors[key][i]).sum(axis=1)
            entry[what] = {"min": round(float(cos.min()), 5), "mean": round(float(cos.mean()), 5)}
        cosines[key] = entry

    quality = result["quality"]
    assert isinstance(quality, dict)
    cache = EmbeddingCache(args.vectors) if args.collections else None
    for folder in args.collections:
        collection = load_collection(folder, args.split)
        scores = {}
        for key in ("torch-float32", "onnx-int8"):
            start = time.perf_counter()
            runs = evaluate(collection, models[key], cache, settings.search)["runs"]
            assert isinstance(runs, dict)
            scores[key] = {run: {"ndcg@10": round(m["ndcg@10"], 4),
                                 "recall@100": round(m["recall@100"], 4)}
                           for run, m in runs.items()}
            print(f"{collection.name} {key}: fused nDCG@10 {scores[key]['fused']['ndcg@10']} "
                  f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
        scores["delta_int8_minus_float32"] = {
            run: {m: round(scores["onnx-int8"][run][m] - scores["torch-float32"][run][m], 4)
                  for m in ("ndcg@10", "recall@100")}
            for run in scores["torch-float32"]}
        quality[f"{collection.name}/{args.split}"] = scores
    if cache is not None:
        cache.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
