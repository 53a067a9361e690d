"""The conversation log: what was asked, what was cited, what helped, who moderated what.

``records`` holds what a log row is; ``recorder`` queues records and writes them
in batches (``LogStore``), or drops them (``NoLog``, when logging is off or
unusable), through a ``LogBackend`` (``backend``: ``sqlite``, one file, the
default; ``postgres``, one server several processes share, ``migrate`` copies
an SQLite log there);
``report`` reads the log for people (stats, chart, export). Callers record
through the ``Recorder`` interface, ``record_answer`` for an answered question.
"""

from index._exports import lazy_exports

_WHERE = {
    "MODES": "records",
    "CitationRecord": "records",
    "QuestionRecord": "records",
    "Stats": "records",
    "parse_since": "records",
    "LogStore": "recorder",
    "NoLog": "recorder",
    "Recorder": "recorder",
    "open_log": "recorder",
    "record_answer": "recorder",
    "LogBackend": "backend",
    "SqliteBackend": "sqlite",
    "PostgresBackend": "postgres",
    "migrate_log": "migrate",
    "chart_png": "report",
    "export": "report",
    "forget": "report",
    "plot": "report",
    "purge": "report",
    "read_stats": "report",
    "render_stats": "report",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
