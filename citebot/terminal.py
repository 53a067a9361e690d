"""What the command line shows in a terminal: answers with numbered citations, JSON
lines, progress bars, the log format on standard error, and a quiet exit when the
reader of standard output goes away (``citebot ask ... | head``).

The commands decide what to say; this module decides how it looks, so the forms
stay the same from one command to the next.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from index.retrieval import Answer


def render_answer(answer: Answer, bold: bool = False, width: int = 88) -> str:
    """The terminal form of an answer: numbered quotes, best sentence marked, with sources."""
    if not answer.answered and answer.unknown_names:
        names = ", ".join(f"“{n}”" for n in answer.unknown_names)
        return (f"No passage in the corpus answers “{answer.question}”: none of the "
                f"articles mentions {names}.\nAdd an article that covers it to get sources.")
    if not answer.answered:
        return (
            f"No passage in the corpus answers “{answer.question}” closely enough.\n"
            "Try rephrasing, or add an article that covers it."
        )
    on, off = ("\033[1m", "\033[0m") if bold else ("**", "**")
    blocks = []
    for c in answer.results:
        p = c.passage
        text = p.text
        if c.highlight and c.highlight != text:
            a, b = c.highlight_start, c.highlight_end
            text = f"{text[:a]}{on}{text[a:b]}{off}{text[b:]}"
        # Passages that are themselves quotations already open with a quote mark.
        quoted = text if p.text[:1] in "“\"" else f"“{text}”"
        quote = textwrap.fill(quoted, width=width, initial_indent="    ",
                              subsequent_indent="    ")
        lines = [f"[{c.rank}] {p.title}", quote, f"    — {p.citation_label()}"]
        if p.url:
            lines.append(f"    {p.url}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def print_json(obj: object) -> None:
    """One object per line, non-ASCII kept as is, so ``--json`` output pipes into jq."""
    print(json.dumps(obj, ensure_ascii=False))


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar on standard error when it is a terminal; silent otherwise."""
    from tqdm import tqdm

    bar: tqdm | None = None

    def update(done: int, total: int) -> None:
        """Create the bar once there is a total (nothing to embed: no bar), then move it."""
        nonlocal bar
        if bar is None and total:
            bar = tqdm(total=total, desc=label, unit="passage", file=sys.stderr,
                       disable=None, leave=False)
        if bar is not None:
            bar.n = done
            bar.refresh()

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()


def configure_logging(verbose: bool) -> None:
    """Log lines on standard error: terse and only what matters to a user, unless --verbose.

    Also sets the environment that keeps model libraries from drawing their own
    progress bars and warnings over the command's output.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(name)s %(levelname)s: %(message)s" if verbose
        else "citebot: %(levelname)s: %(message)s"
    ))
    if not verbose:
        # Third-party start-up chatter (weight-loading, AVX probes, BM25 debug lines)
        # is not for users; libraries set their own logger levels, so filter here.
        handler.addFilter(_OwnOrSerious())
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class _OwnOrSerious(logging.Filter):
    """Pass citebot's own warnings, and only errors from other libraries."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record if it is citebot's at WARNING or above, or anyone's ERROR."""
        own = record.name.split(".")[0] in ("citebot", "index", "bot", "corpus")
        return record.levelno >= (logging.WARNING if own else logging.ERROR)


def silence_stdout() -> None:
    """Point standard output at /dev/null once its reader has gone (a broken pipe).

    Otherwise Python's final flush at exit fails again and prints a second error.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
