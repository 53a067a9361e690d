"""How the index behaves at large sizes: build, memory, start, query, add and remove.

    python bench/scale.py --data ../shared/data --sizes 100000 [--work /tmp/citebot-scale]
                          [--approximate-from ROWS]
                          [--vectors bench/results/quality/embeddings.sqlite]

Embedding a million passages with the model would take days on two cores, so
the corpus is made the cheaper way, and says how:

* **Text** is real: passages of 2-6 consecutive sentences cut from the
  documents of the collections under ``--data`` (Cranfield, CISI, SciFact),
  recombined, eight passages to an article, titles from the collections. The
  keyword index therefore sees real English vocabulary and lengths.
* **Vectors** are made from real all-MiniLM-L6-v2 vectors (the ~69k document
  and sentence vectors that ``bench/quality.py`` caches in ``--vectors``): a
  passage is ``normalise(a + w*b + 0.05*noise)`` for two real vectors a, b and
  w in [0.15, 0.45], so passages cluster around real topics as real ones do;
  each sentence is its passage's vector plus noise (cosine ~0.9 to it).
  Questions are a passage's vector plus noise, with the first words of its text.
* **Multilingual rows** (512-d, as Universal Sentence Encoder's) are the
  passage vectors through a fixed random linear map (which keeps their
  clusters), embedded by a stand-in for the model and saved as the engine saves
  them; the served process adopts them at start as the engine does.
* **Scopes**: 10% of the articles belong to one of 20 servers.

Each size is built in a child process (build time, peak RSS), then served in a
fresh child (start time: index loaded, multilingual rows adopted and searcher
ready; peak RSS of the whole serving process, both models loaded and run once,
taken before the recall check, which holds whole matrices; warm
retrieval p50/p95 over 200 questions with the global scope and with one
server's scope, model time excluded; add and remove of one 1,500-word article
(12 passages) with its vectors given, the model's time for that article being
``bench/speed.py``'s business; which vector indexes the store chose (exact
below ``--approximate-from`` rows, approximate from there, see
``index.retrieval.ann``) and its recall@10 against exact search, with the
global scope and one server's, and for the multilingual rows, whose search for
100 candidates is timed too). Sentence vectors are not an index: they are
read from disk for each question's candidates (``index.retrieval.sentence_rows``),
so they are part of the query time, not of a recall figure.
Every figure is printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from index.articles.passages import Passage  # noqa: E402
from index.articles.sentences import sentence_spans  # noqa: E402
from index.config import IndexSettings, ModelSettings, SearchSettings  # noqa: E402
from index.evaluation import load_collection  # noqa: E402
from index.retrieval.ann import VectorIndex  # noqa: E402
from index.retrieval.embedder import load_encoder  # noqa: E402
from index.retrieval.multilingual import MultilingualVectors, load_multilingual  # noqa: E402
from index.retrieval.search import GLOBAL_SCOPE, Searcher  # noqa: E402
from index.retrieval.store import IndexStore, Manifest, Origin  # noqa: E402

DIM = 384
MULTILINGUAL_DIM = 512
PER_ARTICLE = 8
SERVERS = 20


def peak_rss_mb() -> float:
    """This process's peak resident memory."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def real_vectors(path: Path) -> np.ndarray:
    """The cached all-MiniLM-L6-v2 vectors of the collections' documents and sentences."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT vector FROM vectors WHERE model = 'all-MiniLM-L6-v2'")
        pool = np.stack([np.frombuffer(v, dtype=np.float32) for (v,) in rows])
    if len(pool) < 1000:
        raise SystemExit(f"{path} holds {len(pool)} vectors; run bench/quality.py first")
    return pool


def sentence_pool(data: Path) -> list[list[str]]:
    """Each collection document as its list of sentences (real text)."""
    docs: list[list[str]] = []
    for name in ("cranfield", "cisi", "scifact"):
        folder = data / name
        if not folder.exists():
            continue
        collection = load_collection(folder)
        for text in collection.texts:
            spans = sentence_spans(text)
            sentences = [text[a:b] for a, b in spans if b - a > 20]
            if len(sentences) >= 2:
                docs.append(sentences)
    if not docs:
        raise SystemExit(f"no collection under {data}")
    return docs


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def make_passages(n: int, docs: list[list[str]], rng: np.random.Generator,
                  prefix: str = "a") -> list[Passage]:
    """``n`` passages of recombined real sentences, eight to an article."""
    passages = []
    for i in range(n):
        article = i // PER_ARTICLE
        doc = docs[int(rng.integers(len(docs)))]
        first = int(rng.integers(max(1, len(doc) - 1)))
        parts = doc[first : first + int(rng.integers(2, 7))]
        text = " ".join(parts)
        starts = np.cumsum([0] + [len(p) + 1 for p in parts[:-1]])
        spans = tuple((int(s), int(s) + len(p)) for s, p in zip(starts, parts, strict=True))
        scope = f"s{article % SERVERS}" if article % 10 == 0 else GLOBAL_SCOPE
        passages.append(Passage(
            passage_id=f"{prefix}{i:08d}", doc_id=f"{prefix}doc{article:07d}",
            title=" ".join(docs[article % len(docs)][0].split()[:8]), author="",
            kind="article", comment=0, paragraph=i % PER_ARTICLE + 1, start=0, end=len(text),
            text=text, scope=scope, sentences=spans))
    return passages


def make_vectors(passages: list[Passage], pool: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Passage and sentence vectors made from real ones (see the module docstring).

    Sentence vectors come as float16, as the store keeps them, made 100,000 at a
    time: at a million passages they are 3.3 million rows.
    """
    n = len(passages)
    a = pool[rng.integers(len(pool), size=n)]
    b = pool[rng.integers(len(pool), size=n)]
    w = rng.uniform(0.15, 0.45, (n, 1)).astype(np.float32)
    vectors = unit(a + w * b + 0.05 * rng.standard_normal((n, DIM)).astype(np.float32))
    del a, b
    counts = np.array([len(p.sentences) for p in passages])
    owners = np.repeat(np.arange(n), counts)
    sentences = np.empty((len(owners), DIM), dtype=np.float16)
    for at in range(0, len(owners), 100_000):
        rows = owners[at : at + 100_000]
        sentences[at : at + len(rows)] = unit(vectors[rows] + 0.025 * rng.standard_normal(
            (len(rows), DIM)).astype(np.float32))
    return vectors, sentences


class SyntheticMultilingual:
    """Stands in for the multilingual model (this bench measures indexes, not models):
    each passage text's 512-d row, made from its English vector by a fixed random
    map, which keeps the clusters (Johnson-Lindenstrauss)."""

    dim = MULTILINGUAL_DIM

    def __init__(self, by_text: dict[str, np.ndarray] | None = None) -> None:
        self.by_text = by_text or {}

    def encode(self, texts: list[str], progress: object = None) -> np.ndarray:
        return np.stack([self.by_text[text] for text in texts])


def multilingual_map(size: int) -> np.ndarray:
    """The fixed random map from English vectors to the multilingual rows and questions."""
    return np.random.default_rng(size + 1).standard_normal((DIM, MULTILINGUAL_DIM)).astype(
        np.float32)


def build(size: int, work: Path, data: Path, vectors_path: Path,
          approximate_from: int = IndexSettings.approximate_from) -> dict[str, float]:
    """Write an index of ``size`` passages as one segment (runs in a child)."""
    rng = np.random.default_rng(size)
    start = time.perf_counter()
    pool = real_vectors(vectors_path)
    passages = make_passages(size, sentence_pool(data), rng)
    vectors, sentences = make_vectors(passages, pool, rng)
    made = time.perf_counter() - start
    store = IndexStore(work)
    segment = store.write_segment(passages, vectors, sentences)
    store.publish(Manifest("all-MiniLM-L6-v2", DIM, size, f"synthetic-{size}",
                           segments=(segment,)))
    np.save(work / "probe.npy", vectors[_probe_rows(size)])
    written = time.perf_counter() - start - made
    # The multilingual leg's rows, embedded (by the stand-in) and saved as the engine
    # does at a start that had to embed them.
    begin = time.perf_counter()
    with_title = IndexSettings().embed_title
    mapped = unit(vectors @ multilingual_map(size))
    model = SyntheticMultilingual({p.embed_text(with_title): row
                                   for p, row in zip(passages, mapped, strict=True)})
    del passages, vectors, sentences, mapped
    live = store.load().live
    rows = MultilingualVectors(model, None, work / "multilingual", approximate_from)
    rows.sync(live, with_title)
    rows.save(live)
    return {"passages": size, "sentences": segment.sentences, "make_seconds": round(made, 1),
            "write_seconds": round(written, 1),
            "multilingual_rows_seconds": round(time.perf_counter() - begin, 1),
            "build_peak_rss_mb": round(peak_rss_mb())}


def serve(size: int, work: Path, data: Path, vectors_path: Path,
          approximate_from: int = IndexSettings.approximate_from) -> dict[str, object]:
    """Load the index as the engine does and measure it (runs in a fresh child)."""
    start = time.perf_counter()
    store = IndexStore(work, approximate_from)
    index_data = store.load()
    live = index_data.live
    multilingual = MultilingualVectors(SyntheticMultilingual(), None, work / "multilingual",
                                       approximate_from)
    if multilingual.sync(live, IndexSettings().embed_title):
        raise SystemExit("the saved multilingual rows were not adopted")
    searcher = Searcher(index_data, None, SearchSettings())  # type: ignore[arg-type]
    started = time.perf_counter() - start
    foreign = multilingual.rows(live)
    assert foreign is not None
    rng = np.random.default_rng(7)
    probes = np.load(work / "probe.npy")
    rows = _probe_rows(size)
    queries = unit(probes + 0.035 * rng.standard_normal(probes.shape).astype(np.float32))
    texts = [" ".join(live.passages[int(r)].text.split()[:8]) for r in rows]
    # The two models a bot process holds, loaded and run once, so that the serving RSS
    # is a whole process's; not used below (the questions' vectors are synthetic) and
    # not part of the start (``bench/speed.py`` times them).
    english, second = load_encoder(ModelSettings()), load_multilingual(True)
    english.encode(texts[:1])
    if second is not None:
        second.encode(texts[:1])

    def timed(scopes: tuple[str, ...]) -> dict[str, float]:
        times = []
        for text, query in zip(texts, queries, strict=True):
            begin = time.perf_counter()
            searcher._rank(text, query, 5, scopes)
            times.append((time.perf_counter() - begin) * 1000)
        times.sort()
        return {"p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[int(0.95 * len(times)) - 1], 1)}

    timed((GLOBAL_SCOPE,))  # warm
    global_times = timed((GLOBAL_SCOPE,))
    scoped_times = timed((GLOBAL_SCOPE, "s3"))
    mapped_queries = unit(queries @ multilingual_map(size))
    allowed = live.allowed((GLOBAL_SCOPE,))[: foreign.size()]
    times = []
    for query in mapped_queries:
        begin = time.perf_counter()
        foreign.search(query[None, :], SearchSettings().candidates, allowed)
        times.append((time.perf_counter() - begin) * 1000)
    times.sort()
    multilingual_times = {"p50_ms": round(statistics.median(times), 1),
                          "p95_ms": round(times[int(0.95 * len(times)) - 1], 1)}
    # Serving is over here: the recall check below holds whole matrices of its own.
    serving_peak = peak_rss_mb()

    allowed = live.allowed((GLOBAL_SCOPE,))
    scoped = live.allowed((GLOBAL_SCOPE, "s3"))
    recall = {"passages": recall_at_10(live.vectors, queries, allowed),
              "passages_one_server": recall_at_10(live.vectors, queries, scoped),
              "multilingual": recall_at_10(foreign, mapped_queries, allowed[: foreign.size()])}

    pool = real_vectors(vectors_path)
    new = make_passages(12, sentence_pool(data), rng, prefix="new")
    vectors, sentences = make_vectors(new, pool, rng)
    begin = time.perf_counter()
    segment = store.write_segment(new, vectors, sentences)
    manifest = store.publish(Manifest(
        index_data.manifest.model, DIM, size + len(new), "synthetic-added",
        segments=(*index_data.manifest.segments, segment)))
    live.add(new, vectors, sentences, [Origin(segment.name, r) for r in range(len(new))])
    searcher.names.catch_up(live)
    added = time.perf_counter() - begin
    begin = time.perf_counter()
    live.remove([p.passage_id for p in new])
    store.publish(Manifest(manifest.model, DIM, size, "synthetic-removed",
                           segments=manifest.segments,
                           deleted={segment.name: list(range(len(new)))}))
    removed = time.perf_counter() - begin
    return {"start_seconds": round(started, 2), "serving_peak_rss_mb": round(serving_peak),
            "peak_rss_mb_with_recall_check_and_add": round(peak_rss_mb()),
            "query_global": global_times, "query_one_server": scoped_times,
            "multilingual_search_100": multilingual_times,
            "vector_indexes": [type(live.vectors).__name__, type(foreign).__name__],
            "recall_at_10_vs_exact": recall,
            "add_article_seconds_vectors_given": round(added, 3),
            "remove_article_seconds": round(removed, 3)}


def recall_at_10(index: VectorIndex, queries: np.ndarray, allowed: np.ndarray) -> float:
    """The share of exact search's 10 best admitted rows that ``index`` returns too."""
    _, found = index.search(queries, 10, allowed)
    matrix = index.vectors(np.arange(index.size()))
    exact = np.argsort(-np.where(allowed, queries @ matrix.T, -np.inf), axis=1)[:, :10]
    return round(float(np.mean([len(set(f) & set(e)) / 10
                                for f, e in zip(found.tolist(), exact.tolist(), strict=True)])), 4)


def _probe_rows(size: int) -> np.ndarray:
    """The 200 passages whose perturbed vectors are the questions."""
    return np.arange(200) * max(1, size // 200) % size


def _child(target: str, queue: multiprocessing.Queue,  # type: ignore[type-arg]
           *args: object) -> None:
    queue.put(globals()[target](*args))


def in_child(target: str, *args: object) -> dict[str, object]:
    """Run ``target`` in a fresh process, so its peak memory and start are its own."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(target, queue, *args))
    process.start()
    process.join()
    if process.exitcode != 0:
        raise SystemExit(f"{target} failed (exit code {process.exitcode})")
    return queue.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the collections folder")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--work", type=Path, default=None, help="where indexes are built")
    parser.add_argument("--vectors", type=Path,
                        default=HERE / "results" / "quality" / "embeddings.sqlite")
    parser.add_argument("--approximate-from", type=int, default=IndexSettings.approximate_from,
                        help="rows from which vector indexes are approximate (0: never)")
    args = parser.parse_args()
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="citebot-scale-") as tmp:
        for size in args.sizes:
            work = (args.work or Path(tmp)) / f"n{size}"
            work.mkdir(parents=True, exist_ok=True)
            figures = in_child("build", size, work, args.data, args.vectors,
                               args.approximate_from)
            figures.update(in_child("serve", size, work, args.data, args.vectors,
                                    args.approximate_from))
            report[str(size)] = figures
            print(json.dumps({str(size): figures}), flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
