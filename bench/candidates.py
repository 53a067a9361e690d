"""Where the dense candidates come from: the passage vectors alone, or with a sentence search too.

    python bench/candidates.py --data ../shared/data [--cache bench/results/quality]

The searcher fuses BM25 with dense scores over a candidate pool; a candidate's
dense score mixes its own cosine with its best sentence's. Until issue 13 the
dense pool was the union of the passage index's top ``search.candidates`` and
the passages owning the sentence index's top sentences, which needed an index of
every sentence (2.5 GB at a million passages). This prints nDCG@10 of the fused
ranking on each collection for four pools, nothing tuned:

* ``ideal``: the exact top by mixed score (what ``citebot eval`` assumes);
* ``old``: passage top-n plus the owners of the sentence top-n;
* ``new``: passage top-n only (what the searcher does now);
* ``new200``: passage top-2n.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

from index.config import load_settings  # noqa: E402
from index.evaluation import DEPTH, load_collection, prepare, score_runs  # noqa: E402
from index.retrieval.embedder import EmbeddingCache, load_encoder  # noqa: E402
from index.retrieval.fusion import hybrid_rank  # noqa: E402

SPLITS = (("cranfield", "test"), ("cisi", "test"), ("scifact", "test"), ("scifact", "train"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the collections folder")
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "quality",
                        help="where vectors are cached between runs")
    args = parser.parse_args()
    settings = load_settings(environ={})
    args.cache.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(args.cache / "embeddings.sqlite")
    s = settings.search
    enc = load_encoder(settings.model)
    for name, split in SPLITS:
        col = load_collection(args.data / name, split)
        p = prepare(col, enc, cache)
        ids = col.doc_ids
        qids = list(col.queries)
        Q = np.stack([p.query_vectors[q] for q in qids]).astype(np.float32)
        dense = p.dense_matrix(s.sentence_weight, s.feedback)
        whole = Q @ p.vectors.T
        sent = Q @ p.sentence_vectors.T
        head = s.candidates
        runs = {k: {} for k in ("ideal", "old", "new", "new200")}
        for row, q in enumerate(qids):
            sparse = p.query_keyword[q]
            order = np.argsort(-dense[row], kind="stable")
            wtop = np.argsort(-whole[row])[:head]
            stop = np.unique(p.sentence_owner[np.argsort(-sent[row])[:head]])
            tops = {"ideal": order[:head], "old": np.union1d(wtop, stop), "new": wtop,
                    "new200": np.argsort(-whole[row])[:2 * head]}
            for k, top in tops.items():
                ranked, _, _ = hybrid_rank(top, sparse, dense[row].__getitem__, head,
                                           s.dense_weight, s.fusion)
                seen = set(ranked.tolist())
                tail = [i for i in order[: DEPTH + head] if i not in seen]
                runs[k][q] = [ids[i] for i in [*ranked.tolist(), *tail][:DEPTH]]
        got = score_runs(runs, col.qrels)
        print(name, split, {k: round(v["ndcg@10"], 4) for k, v in got.items()}, flush=True)

    cache.close()


if __name__ == "__main__":
    main()
