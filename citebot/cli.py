"""The ``citebot`` command line: a thin shell over the ``index`` library.

Every error a user can cause arrives here as a ``CitebotError`` and leaves as one
line on standard error with a non-zero exit; only bugs print a traceback, and
only with ``--verbose``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from index.config import Settings, load_settings
from index.errors import (
    CitebotError,
    MissingTitleError,
    NearDuplicateError,
    QuestionError,
    UnknownArticleError,
)

if TYPE_CHECKING:
    from index.logs import Recorder
    from index.retrieval import Answer, Engine

log = logging.getLogger("citebot")

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BUG = 70


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; a test checks the README documents every command."""
    parser = argparse.ArgumentParser(
        prog="citebot",
        description="Answer questions with quoted, cited passages from a corpus of articles.",
    )
    parser.add_argument("--config", metavar="FILE", help="settings file (default: $CITEBOT_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = commands.add_parser("ask", help="answer a question with cited passages")
    ask.add_argument("question", nargs="+", help="the question, or - to read one per line")
    ask.add_argument("--top-k", type=int, metavar="N", help="at most N citations (1-50)")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    ask.add_argument("--scope", default="", metavar="S",
                     help="also search the articles added for scope S (a server id)")
    ask.add_argument("--no-log", action="store_true", help="do not record the question")
    ask.set_defaults(handler=cmd_ask)

    add = commands.add_parser("add", help="add an article from a URL, a file or pasted text")
    add.add_argument("source", help="an http(s) URL, a .txt/.md/.html/.pdf file, or - for stdin")
    add.add_argument("--title", help="the title (required for pasted text)")
    add.add_argument("--author", help="the author, when the source does not say")
    add.add_argument("--scope", default="", metavar="S",
                     help="add it for scope S only (default: every scope)")
    add.add_argument("--force", action="store_true", help="add a near-duplicate anyway")
    add.set_defaults(handler=cmd_add)

    listing = commands.add_parser("list", help="list the articles that can be cited")
    listing.add_argument("--json", action="store_true", help="print one JSON object per article")
    listing.add_argument("--scope", metavar="S",
                         help="only what scope S can cite (default: every article)")
    listing.set_defaults(handler=cmd_list)

    remove = commands.add_parser("remove", help="remove an added article by id")
    remove.add_argument("doc_id", metavar="DOC_ID", help="the id `citebot list` shows")
    remove.add_argument("--scope", metavar="S", help="the article must belong to scope S")
    remove.set_defaults(handler=cmd_remove)

    index = commands.add_parser("index", help="build or update the index")
    index.add_argument("--rebuild", action="store_true", help="re-embed and rebuild from scratch")
    index.set_defaults(handler=cmd_index)

    evaluate = commands.add_parser("eval", help="measure retrieval quality on a test collection")
    evaluate.add_argument("--collection", required=True, metavar="DIR",
                          help="a SMART (Cranfield, CISI) or BEIR (SciFact) folder")
    evaluate.add_argument("--split", default="test", help="BEIR judgments to use (default: test)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=cmd_eval)

    serve = commands.add_parser("serve", help="run the Discord bot (token: $DISCORD_TOKEN)")
    serve.set_defaults(handler=cmd_serve)
    sync = commands.add_parser("sync", help="publish the bot's slash commands to every server")
    sync.set_defaults(handler=cmd_sync)

    logs = commands.add_parser("logs", help="read and care for the conversation log")
    log_commands = logs.add_subparsers(dest="logs_command", metavar="ACTION", required=True)
    export = log_commands.add_parser("export", help="write the logged questions")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    _log_filters(export)
    export.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    export.set_defaults(handler=cmd_logs_export)
    stats = log_commands.add_parser("stats", help="summarise the log")
    _log_filters(stats)
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.add_argument("--plot", metavar="FILE.png",
                       help="also draw questions per day and answered rate")
    stats.set_defaults(handler=cmd_logs_stats)
    forget = log_commands.add_parser("forget", help="delete every row about one user")
    forget.add_argument("user", metavar="USER_ID")
    forget.set_defaults(handler=cmd_logs_forget)
    purge = log_commands.add_parser("purge", help="delete rows older than the retention")
    purge.add_argument("--days", type=int, metavar="N",
                       help="older than N days (default: logs.retention_days)")
    purge.set_defaults(handler=cmd_logs_purge)
    return parser


def _log_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="DATE", help="only from this date (YYYY-MM-DD), UTC")
    parser.add_argument("--guild", metavar="ID", help="only this server")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        settings = load_settings(args.config)
        return int(args.handler(args, settings) or 0)
    except CitebotError as exc:
        print(f"citebot: error: {exc}{_hint(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("citebot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except Exception as exc:
        log.debug("unexpected error", exc_info=True)
        if args.verbose:
            raise
        print(
            f"citebot: internal error: {type(exc).__name__}: {exc} "
            "(run with --verbose for details, and please report it)",
            file=sys.stderr,
        )
        return EXIT_BUG


# ---- commands ------------------------------------------------------------


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot ask``: answer one question, or one per line of standard input."""
    if args.top_k is not None and not 1 <= args.top_k <= 50:
        raise CitebotError("--top-k must be between 1 and 50")
    from index.articles import check_scope

    scopes = ("", check_scope(args.scope))
    from_stdin = args.question == ["-"]
    if not from_stdin and not " ".join(args.question).strip():
        raise QuestionError(
            'the question is empty: ask something, e.g. "Why are people protesting in Peru?"'
        )
    engine = _open_engine(settings)
    return asyncio.run(_ask_all(args, settings, engine, scopes, from_stdin))


async def _ask_all(args: argparse.Namespace, settings: Settings, engine: Engine,
                   scopes: tuple[str, ...], from_stdin: bool) -> int:
    """Answer and log each question; SIGTERM stops after flushing the log."""
    from index.logs import NoLog, open_log

    logs = NoLog() if args.no_log else await open_log(settings.logs, settings.log_path)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    terminated = False

    def on_term() -> None:
        nonlocal terminated
        terminated = True
        if main is not None:
            main.cancel()

    loop.add_signal_handler(signal.SIGTERM, on_term)
    try:
        if not from_stdin:
            await _ask_one(" ".join(args.question), args, engine, scopes, logs, single=True)
            return 0
        while line := await asyncio.to_thread(sys.stdin.readline):
            await _ask_one(line.rstrip("\n"), args, engine, scopes, logs, single=False)
        return 0
    except asyncio.CancelledError:
        if not terminated:
            raise
        print("citebot: terminated; the log is flushed", file=sys.stderr)
        return 143
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await logs.close()


async def _ask_one(raw: str, args: argparse.Namespace, engine: Engine,
                   scopes: tuple[str, ...], logs: Recorder, single: bool) -> None:
    from index.logs import record_answer

    start = time.perf_counter()
    try:
        answer = await asyncio.to_thread(engine.ask, raw, args.top_k, scopes)
    except QuestionError as exc:
        if single:
            raise
        if args.json:
            _print_json({"question": raw, "answered": False, "results": [], "error": str(exc)})
        else:
            print(f"citebot: {exc}\n")
        sys.stdout.flush()
        return
    record_answer(logs, answer, (time.perf_counter() - start) * 1000, "command_line",
                  model=engine.embedder.name, index_version=engine.index_version,
                  guild=args.scope)
    if args.json:
        _print_json(answer.to_json())
    elif single:
        print(render_answer(answer, bold=sys.stdout.isatty()))
    else:
        print(f"Q: {answer.question}\n{render_answer(answer, sys.stdout.isatty())}\n")
    sys.stdout.flush()


def _token(settings: Settings) -> str:
    import os

    token = os.environ.get("DISCORD_TOKEN", "").strip() or settings.discord.token.strip()
    if not token:
        raise CitebotError(
            "no Discord bot token: set DISCORD_TOKEN, or token in the [discord] section of "
            "the config (the Developer Portal shows it under Bot > Token). Without Discord, "
            "`citebot ask` answers in the terminal")
    return token


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot serve``: run the Discord bot until SIGTERM or Ctrl-C (then exit 0).

    A refused token exits 3 and a privileged intent not enabled exits 4, each with one
    line saying what to change (the README lists the codes)."""
    token = _token(settings)
    from bot.app import OperatorError, run

    try:
        return run(settings, token)
    except OperatorError as exc:
        print(f"citebot: error: {exc}", file=sys.stderr)
        return exc.exit_code


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot sync``: publish the slash commands globally (Discord may take an hour)."""
    token = _token(settings)
    from bot.app import OperatorError, sync_globally

    try:
        names = sync_globally(settings, token)
    except OperatorError as exc:
        print(f"citebot: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"synced {len(names)} commands globally: {', '.join(sorted(names))}")
    return 0


def _hint(exc: CitebotError) -> str:
    """How to get past a refusal on the command line (the library names no flags)."""
    if isinstance(exc, NearDuplicateError):
        return "; add --force to add it anyway"
    if isinstance(exc, MissingTitleError):
        return ' with --title "..."'
    if isinstance(exc, UnknownArticleError):
        return " (`citebot list`)"
    return ""


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot add``: read the source, refuse duplicates, store it and index its passages.

    The action and its result (done, or refused and why) go to the log.
    """
    try:
        doc_id = _add(args, settings)
    except CitebotError as exc:
        _log_moderation(settings, "add", "refused", args.source, "", str(exc), args.scope)
        raise
    _log_moderation(settings, "add", "done", args.source, doc_id, "", args.scope)
    return 0


def _log_moderation(settings: Settings, action: str, result: str, target: str, doc_id: str,
                    detail: str, scope: str | None) -> None:
    """Record a moderation action from the command line (by the local user)."""
    import getpass

    from index.logs import open_log

    async def record() -> None:
        logs = await open_log(settings.logs, settings.log_path)
        logs.moderation(action, result, user=f"local:{getpass.getuser()}", guild=scope or "",
                        target=target, doc_id=doc_id, detail=detail)
        await logs.close()

    asyncio.run(record())


def _add(args: argparse.Namespace, settings: Settings) -> str:
    import dataclasses

    from index.articles import check_scope, from_file, from_plain

    scope = check_scope(args.scope)
    source = args.source
    if source == "-":
        if not args.title:
            raise CitebotError("pasted text needs a title: add --title \"...\"")
        article = from_plain(sys.stdin.read())
    elif "://" in source or source.split(":", 1)[0].lower() in ("javascript", "data", "mailto"):
        from index.articles import read_url

        article = asyncio.run(read_url(source, settings.ingest))
    else:
        article = from_file(Path(source), settings.ingest.max_bytes)
    if args.title:
        article = dataclasses.replace(article, title=args.title)
    if args.author:
        article = dataclasses.replace(article, author=args.author)
    engine = _open_engine(settings, quiet=True)
    with _progress_bar("embedding passages") as progress:
        doc, report = engine.add(article, scope, args.force, progress)
    where = f" for scope {scope}" if scope else ""
    print(f"added '{doc.doc_id}'{where}: {doc.title}"
          + (f" — {doc.author}" if doc.author else "")
          + f" ({report.added} passages)")
    return doc.doc_id


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot list``: the articles, bundled and added, with their ids and scopes."""
    from index.articles import Library, check_scope

    scope = None if args.scope is None else check_scope(args.scope)
    articles = Library(settings).info(scope)
    for a in articles:
        if args.json:
            _print_json(a.to_json())
        else:
            origin = "bundled" if a.bundled else (f"scope {a.scope}" if a.scope else "added")
            byline = f" — {a.author}" if a.author else ""
            print(f"{a.doc_id}  {a.title}{byline}  [{origin}]")
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot remove``: delete an added article from the corpus and the index (logged)."""
    from index.articles import check_scope

    try:
        scope = None if args.scope is None else check_scope(args.scope)
        engine = _open_engine(settings, quiet=True)
        doc, report = engine.remove(args.doc_id, scope)
    except CitebotError as exc:
        _log_moderation(settings, "remove", "refused", args.doc_id, "", str(exc), args.scope)
        raise
    _log_moderation(settings, "remove", "done", args.doc_id, doc.doc_id,
                    f"{report.removed} passages", args.scope)
    print(f"removed '{doc.doc_id}': {doc.title} ({report.removed} passages)")
    return 0


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot index``: bring the index up to date (or rebuild it) and say what changed."""
    if args.rebuild:
        import shutil

        shutil.rmtree(settings.data_dir / "index", ignore_errors=True)
    engine = _open_engine(settings, quiet=True)
    print(engine.report.describe())
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot eval``: BM25, dense and fused quality on a judged collection."""
    from index.evaluation import evaluate, load_collection
    from index.retrieval import Embedder, EmbeddingCache, prepare_data_dir

    collection = load_collection(Path(args.collection), args.split)
    data_dir = prepare_data_dir(settings.data_dir)
    embedder = Embedder.from_settings(settings.model)
    cache = EmbeddingCache(data_dir / "embeddings.sqlite")
    with _progress_bar("embedding documents") as progress:
        result = evaluate(collection, embedder, cache, settings.search, progress)
    if args.json:
        _print_json(result)
        return 0
    runs = result["runs"]
    assert isinstance(runs, dict)
    print(f"{collection.name}: {len(collection.queries)} judged queries, "
          f"{len(collection.doc_ids)} documents")
    print(f"{'run':<8}{'nDCG@10':>10}{'MRR@10':>10}{'R@100':>10}")
    for name, m in runs.items():
        print(f"{name:<8}{m['ndcg@10']:>10.4f}{m['mrr@10']:>10.4f}{m['recall@100']:>10.4f}")
    return 0


# ---- helpers -------------------------------------------------------------


def cmd_logs_export(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot logs export``: every logged question as JSON lines or CSV."""
    from index.logs import export

    return asyncio.run(export(settings, args.format, args.since or "", args.guild or "",
                              args.output))


def cmd_logs_stats(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot logs stats``: the summary, optionally as JSON and as a chart."""
    from index.logs import plot, read_stats, render_stats

    stats = asyncio.run(read_stats(settings, args.since or "", args.guild or ""))
    if args.json:
        _print_json(stats.to_json())
    else:
        print(render_stats(stats))
    if args.plot:
        plot(stats, Path(args.plot))
        print(f"chart written to {args.plot}", file=sys.stderr)
    return 0


def cmd_logs_forget(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot logs forget``: delete every row about one user."""
    from index.logs import forget

    removed = asyncio.run(forget(settings, args.user))
    print(f"deleted {removed} rows about user {args.user[:40]}")
    return 0


def cmd_logs_purge(args: argparse.Namespace, settings: Settings) -> int:
    """``citebot logs purge``: delete rows older than the retention period."""
    from index.logs import purge

    days = args.days if args.days is not None else settings.logs.retention_days
    if days <= 0:
        raise CitebotError("give --days N (at least 1), or set logs.retention_days")
    removed = asyncio.run(purge(settings, days))
    print(f"deleted {removed} questions older than {days} days")
    return 0


def _open_engine(settings: Settings, quiet: bool = False) -> Engine:
    """Load the model and bring the index up to date, with a progress bar."""
    from index.retrieval import Engine

    with _progress_bar("embedding passages") as progress:
        engine = Engine.open(settings, progress)
    report = engine.report
    if (report.rebuilt or report.added or report.removed) and not quiet:
        print(f"citebot: {report.describe()}", file=sys.stderr)
    return engine


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


def _print_json(obj: object) -> None:
    print(json.dumps(obj, ensure_ascii=False))


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar on standard error when it is a terminal; silent otherwise."""
    from tqdm import tqdm

    bar: tqdm | None = None

    def update(done: int, total: int) -> None:
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


def _configure_logging(verbose: bool) -> None:
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
        own = record.name.split(".")[0] in ("citebot", "index", "bot", "corpus")
        return record.levelno >= (logging.WARNING if own else logging.ERROR)


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


