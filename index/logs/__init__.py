"""The conversation log: what was asked, what was cited, what helped, who moderated what.

``open_log`` gives the log store (or ``NoLog`` when logging is off or unusable);
callers record through the ``Recorder`` interface, ``record_answer`` for an
answered question; ``report`` reads the log for people (stats, chart, export).
"""

from index._exports import lazy_exports

_WHERE = {
    "MODES": "store",
    "CitationRecord": "store",
    "LogStore": "store",
    "NoLog": "store",
    "QuestionRecord": "store",
    "Recorder": "store",
    "Stats": "store",
    "open_log": "store",
    "parse_since": "store",
    "record_answer": "store",
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
