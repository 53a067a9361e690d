"""Measuring retrieval quality on test collections with relevance judgments.

Two layouts are read:

* SMART (Cranfield, CISI): a documents file, a queries file and a judgments
  file, recognised by name (``*.all*``/``*.ALL``, ``*.qry``/``*.QRY``,
  ``*qrel*``/``*.REL``). Judgment lines with three columns carry a Cranfield
  grade; lines with four (CISI's ``query doc 0 0.0``) mark a relevant pair.
  Records start with ``.I id``; fields are ``.T`` title,
  ``.A`` authors, ``.B`` bibliography, ``.W`` text, ``.X`` cross-references.
  Anything before the first ``.I`` is ignored (CISI.ALL starts with a stray
  ``.X``). When query ids are not 1..N but the judgments number queries up to
  N, judgments refer to queries by position (Cranfield). Cranfield grades
  1..4 (1 best) become gains 4..1; -1 and others become 0.
* BEIR (SciFact): ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

Three rankings are measured in one run: BM25 alone, dense alone, and the fused
ranking the searcher uses. "Dense alone" embeds each document whole (title and
text; the model reads the first 256 word pieces), exactly as the published
all-MiniLM-L6-v2 figures do, so it checks the embedding path. The fused ranking
scores documents as the searcher scores passages: whole-text cosine mixed with
the best sentence's cosine (the title counting as a sentence), fused with BM25.
Everything goes through the embedding cache, so a second run costs only the
queries.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.articles.sentences import split_sentences
from index.config import SearchSettings
from index.errors import CollectionError
from index.retrieval.ann import FlatIndex
from index.retrieval.dense import mix, run_maxima
from index.retrieval.embedder import Embedder, EmbeddingCache, Progress, embed_with_cache
from index.retrieval.fusion import FEEDBACK_DEPTH, feedback_query, hybrid_rank
from index.retrieval.keyword import KeywordIndex

log = logging.getLogger(__name__)

DEPTH = 100


@dataclass(frozen=True)
class Collection:
    """Documents, queries and graded judgments of one test collection."""

    name: str
    doc_ids: list[str]
    titles: list[str]
    texts: list[str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    def doc_texts(self) -> list[str]:
        """Title and text of each document, as the model and BM25 read them."""
        return [f"{t}\n{x}".strip() for t, x in zip(self.titles, self.texts, strict=True)]


def load_collection(folder: Path, split: str = "test") -> Collection:
    """Read a SMART or BEIR collection folder.

    Raises:
        CollectionError: the folder or one of its files is missing or malformed.
    """
    if not folder.is_dir():
        raise CollectionError(f"collection folder {folder} does not exist")
    if (folder / "corpus.jsonl").exists():
        return _load_beir(folder, split)
    return _load_smart(folder)


def _load_beir(folder: Path, split: str) -> Collection:
    qrels_file = folder / "qrels" / f"{split}.tsv"
    for needed in (folder / "queries.jsonl", qrels_file):
        if not needed.exists():
            raise CollectionError(f"BEIR collection {folder} has no {needed.relative_to(folder)}")
    doc_ids, titles, texts = [], [], []
    for record in _jsonl(folder / "corpus.jsonl"):
        doc_ids.append(str(record["_id"]))
        titles.append(str(record.get("title", "")))
        texts.append(str(record.get("text", "")))
    all_queries = {str(r["_id"]): str(r["text"]) for r in _jsonl(folder / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate(qrels_file.read_text(encoding="utf-8").splitlines()):
        parts = line.strip().split("\t")
        if n == 0 and parts and not parts[-1].lstrip("-").isdigit():
            continue  # header
        if len(parts) != 3:
            if line.strip():
                raise CollectionError(f"{qrels_file}:{n + 1}: expected query, doc, score")
            continue
        qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries = {q: all_queries[q] for q in qrels if q in all_queries}
    return Collection(folder.name, doc_ids, titles, texts, queries, qrels)


def _jsonl(path: Path) -> list[dict[str, object]]:
    try:
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError) as exc:
        raise CollectionError(f"cannot read {path}: {exc}") from None


def _find(folder: Path, pattern: str, what: str) -> Path:
    matches = [p for p in sorted(folder.iterdir()) if re.search(pattern, p.name, re.IGNORECASE)]
    if not matches:
        raise CollectionError(f"SMART collection {folder} has no {what} file")
    return matches[0]


def _load_smart(folder: Path) -> Collection:
    docs_file = _find(folder, r"\.all|^all", "documents (*.all)")
    queries_file = _find(folder, r"\.qry$", "queries (*.qry)")
    rel_file = _find(folder, r"qrel|\.rel$", "judgments (*qrel* or *.rel)")
    docs = _smart_records(docs_file)
    if not docs:
        raise CollectionError(f"{docs_file} holds no '.I' records")
    raw_queries = _smart_records(queries_file)
    query_ids = [q for q, _ in raw_queries]
    judgments: dict[str, dict[str, int]] = {}
    for n, line in enumerate(rel_file.read_text(encoding="utf-8", errors="replace").splitlines()):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise CollectionError(f"{rel_file}:{n + 1}: expected 'query document [grade]'")
        # Three columns carry a Cranfield grade; CISI's four (query, doc, 0, 0.0) mean relevant.
        grade = _gain(parts[2]) if len(parts) == 3 else 1
        judgments.setdefault(str(int(parts[0])), {})[str(int(parts[1]))] = grade
    contiguous = [int(q) for q in query_ids] == list(range(1, len(query_ids) + 1))
    positional = not contiguous and max(int(q) for q in judgments) <= len(query_ids)
    texts = dict(raw_queries)
    queries: dict[str, str] = {}
    for q in judgments:
        key = query_ids[int(q) - 1] if positional else q
        if key in texts:
            queries[q] = texts[key]["W"]
    qrels = {q: {d: g for d, g in rels.items() if g > 0} for q, rels in judgments.items()}
    qrels = {q: r for q, r in qrels.items() if r and q in queries}
    queries = {q: queries[q] for q in qrels}
    return Collection(
        folder.name,
        [d for d, _ in docs],
        [f.get("T", "") for _, f in docs],
        [f.get("W", "") for _, f in docs],
        queries,
        qrels,
    )


def _gain(raw: str) -> int:
    """Cranfield grade to gain: 1 (most relevant) -> 4 ... 4 -> 1; anything else -> 0."""
    grade = int(raw)
    return 5 - grade if 1 <= grade <= 4 else 0


def _smart_records(path: Path) -> list[tuple[str, dict[str, str]]]:
    records: list[tuple[str, dict[str, str]]] = []
    current: dict[str, list[str]] | None = None
    field = ""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        marker = re.match(r"^\.([A-Z])\b\s*(.*)$", line)
        if marker and marker.group(1) == "I":
            current = {}
            records.append((str(int(marker.group(2).split()[0])), current))  # type: ignore[arg-type]
            field = ""
        elif marker and current is not None:
            field = marker.group(1)
            current.setdefault(field, [])
            if marker.group(2).strip():
                current[field].append(marker.group(2))
        elif current is not None and field:
            current[field].append(line)
    return [(rid, {k: " ".join(" ".join(v).split()) for k, v in f.items()}) for rid, f in records]  # type: ignore[union-attr]


# ---- metrics -------------------------------------------------------------


def ndcg_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains (as trec_eval and BEIR compute it)."""
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rels.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def mrr_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document within the top k."""
    for i, d in enumerate(ranked[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def recall_at(ranked: list[str], rels: dict[str, int], k: int = 100) -> float:
    """Share of the relevant documents found in the top k."""
    relevant = {d for d, g in rels.items() if g > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def score_runs(
    runs: dict[str, dict[str, list[str]]], qrels: dict[str, dict[str, int]]
) -> dict[str, dict[str, float]]:
    """Mean nDCG@10, MRR@10 and Recall@100 of each run over the judged queries."""
    out: dict[str, dict[str, float]] = {}
    for name, ranking in runs.items():
        rows = [
            (ndcg_at(ranking.get(q, []), r), mrr_at(ranking.get(q, []), r),
             recall_at(ranking.get(q, []), r))
            for q, r in qrels.items()
        ]
        means = np.mean(np.array(rows), axis=0) if rows else np.zeros(3)
        out[name] = {
            "ndcg@10": round(float(means[0]), 4),
            "mrr@10": round(float(means[1]), 4),
            "recall@100": round(float(means[2]), 4),
        }
    return out


# ---- runs ----------------------------------------------------------------


@dataclass
class PreparedCollection:
    """A collection with its document vectors and BM25 index, ready to rank queries."""

    collection: Collection
    vectors: np.ndarray
    index: FlatIndex
    sentence_vectors: np.ndarray
    sentence_owner: np.ndarray
    keyword: KeywordIndex
    query_vectors: dict[str, np.ndarray]
    query_keyword: dict[str, np.ndarray]

    def mixed(self, query: np.ndarray, sentence_weight: float) -> np.ndarray:
        """Each document's dense score for one query, as the searcher scores a passage."""
        return self._mix(query[None, :], sentence_weight)[0]

    def dense_matrix(self, sentence_weight: float, feedback: float) -> np.ndarray:
        """Dense scores (queries x documents) as ranked: mixed, after feedback if any."""
        queries = np.stack([self.query_vectors[q] for q in self.collection.queries])
        scores = self._mix(queries, sentence_weight)
        if feedback > 0:
            top = np.argsort(-scores, axis=1)[:, :FEEDBACK_DEPTH]
            moved = np.stack([
                feedback_query(q, self.vectors[t], feedback)
                for q, t in zip(queries, top, strict=True)
            ])
            scores = self._mix(moved, sentence_weight)
        return scores

    def _mix(self, queries: np.ndarray, sentence_weight: float) -> np.ndarray:
        """Whole-document cosine mixed with the best sentence's (documents without one keep
        their own), for a batch of query vectors."""
        whole = queries @ self.vectors.T
        best = whole.copy()
        if len(self.sentence_owner):
            # Sentences are stored document by document, so each document's run is contiguous.
            owners, starts = np.unique(self.sentence_owner, return_index=True)
            sims = queries @ self.sentence_vectors.T
            best[:, owners] = run_maxima(sims, starts)
        return mix(whole, best, sentence_weight)


def prepare(
    collection: Collection,
    embedder: Embedder,
    cache: EmbeddingCache | None,
    progress: Progress | None = None,
) -> PreparedCollection:
    """Embed the documents and queries and build both indexes (the slow part)."""
    texts = collection.doc_texts()
    sentences: list[str] = []
    owner: list[int] = []
    for i, (title, text) in enumerate(zip(collection.titles, collection.texts, strict=True)):
        parts = ([title] if title.strip() else []) + split_sentences(text)
        sentences.extend(parts)
        owner.extend([i] * len(parts))
    matrix = embed_with_cache(embedder, cache, texts + sentences, progress)
    vectors = matrix[: len(texts)]
    index = FlatIndex.from_vectors(vectors)
    keyword = KeywordIndex(texts)
    qids = list(collection.queries)
    qvecs = embedder.encode([collection.queries[q] for q in qids]) if qids else np.zeros((0, 1))
    return PreparedCollection(
        collection,
        vectors,
        index,
        matrix[len(texts) :],
        np.array(owner, dtype=np.int64),
        keyword,
        {q: qvecs[i] for i, q in enumerate(qids)},
        {q: keyword.scores(collection.queries[q]) for q in qids},
    )


def rank_queries(
    prepared: PreparedCollection, settings: SearchSettings
) -> dict[str, dict[str, list[str]]]:
    """The BM25, dense and fused top-100 of every judged query."""
    ids = prepared.collection.doc_ids
    runs: dict[str, dict[str, list[str]]] = {"bm25": {}, "dense": {}, "fused": {}}
    qids = list(prepared.collection.queries)
    if not qids:
        return runs
    matrix = np.stack([prepared.query_vectors[q] for q in qids]).astype(np.float32)
    _, whole_hits = prepared.index.search(matrix, min(DEPTH, len(ids)))
    dense = prepared.dense_matrix(settings.sentence_weight, settings.feedback)
    head = min(settings.candidates, len(ids))
    for row, q in enumerate(qids):
        sparse = prepared.query_keyword[q]
        top_sparse = np.argsort(-sparse, kind="stable")[:DEPTH]
        runs["bm25"][q] = [ids[i] for i in top_sparse if sparse[i] > 0]
        runs["dense"][q] = [ids[i] for i in whole_hits[row] if i >= 0]
        order = np.argsort(-dense[row], kind="stable")
        ranked, _, _ = hybrid_rank(
            order[:head], sparse, dense[row].__getitem__, head,
            settings.dense_weight, settings.fusion,
        )
        # The searcher fuses only its candidate pool; past it, the fused run
        # continues in dense order so that Recall@100 is measured at depth 100.
        seen = set(ranked.tolist())
        tail = [i for i in order[: DEPTH + head] if i not in seen]
        runs["fused"][q] = [ids[i] for i in [*ranked.tolist(), *tail][:DEPTH]]
    return runs


def evaluate(
    collection: Collection,
    embedder: Embedder,
    cache: EmbeddingCache | None,
    settings: SearchSettings,
    progress: Progress | None = None,
) -> dict[str, object]:
    """Measure BM25, dense and fused rankings; the ``citebot eval --json`` object."""
    prepared = prepare(collection, embedder, cache, progress)
    runs = rank_queries(prepared, settings)
    return {"collection": collection.name, "runs": score_runs(runs, collection.qrels)}
