"""Answer quality on the bundled corpus: hit@1, hit@3 and abstention on unrelated questions.

The question set (bench/data/seed_questions.jsonl) holds paraphrased questions,
each with the phrases that the answering passage contains, and unrelated
questions with no expected phrase. A question is a hit at k when one of its
top-k citations contains an expected phrase; an unrelated question passes when
``answered`` is false.

    python bench/seed_questions.py [--questions FILE] [--show]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from index.config import load_settings  # noqa: E402
from index.retrieval.engine import Engine  # noqa: E402


def load_questions(path: Path) -> list[dict[str, object]]:
    """The question set, one JSON object per line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def run(
    engine: Engine, questions: list[dict[str, object]], show: bool = False
) -> dict[str, object]:
    """Ask every question and score the answers."""
    rows = []
    for item in questions:
        question = str(item["question"])
        expect = [str(e) for e in item["expect"]]  # type: ignore[union-attr]
        answer = engine.ask(question, top_k=5)
        texts = [c.passage.text for c in answer.results]
        rank = next((i + 1 for i, t in enumerate(texts) if any(e in t for e in expect)), None)
        top_similarity = max((c.similarity for c in answer.results), default=None)
        rows.append({
            "question": question,
            "answerable": bool(expect),
            "answered": answer.answered,
            "rank": rank,
            "top_similarity": top_similarity,
        })
        if show:
            mark = "ok " if (rank and rank <= 3) or (not expect and not answer.answered) else "BAD"
            sim = f"{top_similarity:.3f}" if top_similarity is not None else "  -  "
            print(f"{mark} rank={rank} sim={sim} answered={answer.answered} {question}")
    answerable = [r for r in rows if r["answerable"]]
    unrelated = [r for r in rows if not r["answerable"]]
    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "unrelated": len(unrelated),
        "hit@1": round(sum(1 for r in answerable if r["rank"] == 1) / len(answerable), 3),
        "hit@3": round(
            sum(1 for r in answerable if r["rank"] and r["rank"] <= 3) / len(answerable), 3
        ),
        "answered_answerable": sum(1 for r in answerable if r["answered"]),
        "abstained_unrelated": sum(1 for r in unrelated if not r["answered"]),
        "misses": [r["question"] for r in answerable if not (r["rank"] and r["rank"] <= 3)],
        "false_answers": [r["question"] for r in unrelated if r["answered"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=HERE / "data" / "seed_questions.jsonl")
    parser.add_argument("--show", action="store_true", help="print every question's outcome")
    args = parser.parse_args()
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        import dataclasses

        settings = dataclasses.replace(
            settings, index=dataclasses.replace(settings.index, data_dir=tmp)
        )
        engine = Engine.open(settings)
        result = run(engine, load_questions(args.questions), args.show)
        engine.close()
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
