"""Reading the conversation log for people: exports, the stats summary and its chart.

Kept apart from ``logstore`` (which records) so the bot's /stats and the
``citebot logs`` commands share one rendering, and matplotlib is imported only
when a chart is drawn.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TextIO

from index.config import Settings
from index.errors import CitebotError
from index.logs.recorder import LogStore, open_configured
from index.logs.records import Stats, parse_since

CSV_FIELDS = (
    "id", "asked_at", "guild", "channel", "thread", "user", "mode", "answered", "latency_ms",
    "model", "index_version", "parent_id", "message_id", "helpful_votes", "not_helpful_votes",
    "cited_doc_ids", "text",
)


@contextlib.asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[LogStore]:
    store = await open_configured(settings.logs, settings.log_path)
    try:
        yield store
    finally:
        await store.close()


async def export(settings: Settings, fmt: str, since: str, guild: str,
                 output: str | None) -> int:
    """Write the logged questions as JSON lines or CSV; returns the exit code."""
    since_iso = parse_since(since) if since else ""
    with _open_output(output) as out:
        writer = csv.DictWriter(out, CSV_FIELDS) if fmt == "csv" else None
        if writer is not None:
            writer.writeheader()
        async with _store(settings) as store:
            async for row in store.questions(since_iso, guild):
                if writer is None:
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                else:
                    writer.writerow(csv_row(row))
    return 0


def csv_row(row: dict[str, object]) -> dict[str, object]:
    """A question as a CSV row: cited documents joined, spreadsheet formulas defused."""
    flat = {k: v for k, v in row.items() if k in CSV_FIELDS}
    flat["cited_doc_ids"] = ";".join(str(c["doc_id"]) for c in row["citations"])  # type: ignore[attr-defined]
    flat["answered"] = int(bool(row["answered"]))
    for key in ("text", "user", "guild", "channel", "thread"):
        value = str(flat.get(key) or "")
        # A cell starting with = + - @ runs as a formula in spreadsheets (CSV injection).
        flat[key] = "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
    return flat


@contextlib.contextmanager
def _open_output(output: str | None) -> Iterator[TextIO]:
    if not output:
        yield sys.stdout
        return
    try:
        handle = Path(output).open("w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise CitebotError(f"cannot write {output}: {exc.strerror or exc}") from None
    with handle:
        yield handle


async def read_stats(settings: Settings, since: str = "", guild: str = "") -> Stats:
    """The log summary, filtered by date and server."""
    async with _store(settings) as store:
        return await store.stats(parse_since(since) if since else "", guild)


async def forget(settings: Settings, user: str) -> int:
    """Delete every row about ``user``."""
    if not user.strip():
        raise CitebotError("give the user id to forget")
    async with _store(settings) as store:
        return await store.forget(user.strip())


async def purge(settings: Settings, days: int) -> int:
    """Delete questions older than ``days``."""
    async with _store(settings) as store:
        return await store.purge(days)


def render_stats(stats: Stats) -> str:
    """The summary as text for a terminal (and, cut to size, for Discord)."""
    if not stats.questions:
        return "No questions logged yet."
    lines = [
        f"Questions: {stats.questions}, answered {stats.answered} "
        f"({stats.answered_rate:.0%})",
    ]
    ratio = stats.helpful_ratio
    votes = stats.helpful + stats.not_helpful
    lines.append(f"Helpful: {ratio:.0%} of {votes} votes" if ratio is not None
                 else "Helpful: no votes yet")
    lines.append(f"Moderation actions: {stats.moderation}")
    lines.append("")
    lines.append("Questions per day (answered):")
    lines += [f"  {day}  {n:>5}  ({a})" for day, n, a in stats.per_day[-14:]]
    if stats.top_articles:
        lines += ["", "Most cited articles:"]
        lines += [f"  {n:>5}  {doc}" for doc, n in stats.top_articles]
    if stats.slowest:
        lines += ["", "Slowest answers:"]
        lines += [f"  {ms:>8.0f} ms  {at[:16]}  {_short(q)}" for ms, at, q in stats.slowest]
    if stats.gaps:
        lines += ["", "Coverage gaps (most often unanswered; consider adding articles):"]
        lines += [f"  {n:>3}×  {_short(q)}" for q, n in stats.gaps]
    return "\n".join(lines)


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def plot(stats: Stats, path: Path) -> Path:
    """Draw questions per day (bars) and the answered rate (line) to a PNG file."""
    png = chart_png(stats)
    try:
        path.write_bytes(png)
    except OSError as exc:
        raise CitebotError(f"cannot write the chart to {path}: {exc.strerror or exc}") from None
    return path


def chart_png(stats: Stats) -> bytes:
    """The stats chart as PNG bytes (the bot attaches these without touching the disk)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.6), dpi=100, layout="constrained")
    axes = figure.subplots()
    days = [d for d, _, _ in stats.per_day]
    counts = [n for _, n, _ in stats.per_day]
    rates = [a / n if n else 0.0 for _, n, a in stats.per_day]
    positions = list(range(len(days)))
    axes.bar(positions, counts, color="#5b7db1", label="questions")
    axes.set_ylabel("questions per day")
    axes.set_title("citebot: questions per day and answered rate")
    step = max(1, len(days) // 10)
    axes.set_xticks(positions[::step], days[::step], rotation=30, ha="right", fontsize=8)
    rate_axes = axes.twinx()
    rate_axes.plot(positions, rates, color="#d2691e", marker="o", label="answered rate")
    rate_axes.set_ylim(0, 1.05)
    rate_axes.set_ylabel("answered rate")
    if not days:
        axes.text(0.5, 0.5, "no questions yet", ha="center", va="center",
                  transform=axes.transAxes)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
