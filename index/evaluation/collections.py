"""Test collections: documents, queries and graded relevance judgments, read from disk.

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
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from index.errors import CollectionError


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
