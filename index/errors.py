"""The errors a user can cause, each with a message that says what to do next.

The command line prints ``str(error)`` as one line and exits non-zero; the bot
turns the same text into a polite reply. Anything else is a bug and gets a
traceback in the logs.
"""

from __future__ import annotations


class CitebotError(Exception):
    """Base class for every error that is the user's to fix, not a bug."""


class ConfigError(CitebotError):
    """The configuration file is missing, unreadable or invalid."""


class CorpusError(CitebotError):
    """A corpus file cannot be read or its front matter is malformed."""


class ModelError(CitebotError):
    """The embedding model cannot be found or loaded."""


class IndexCorruptError(CitebotError):
    """An index on disk does not match its manifest or cannot be read.

    Callers normally catch it and rebuild; it reaches the user only when the
    rebuild itself fails.
    """


class IndexFormatError(IndexCorruptError):
    """The index on disk was written by a version of citebot with another format.

    Nothing is wrong with it; it is rebuilt in the current format, and the
    message says so rather than calling it damaged.
    """


class QuestionError(CitebotError):
    """A question that cannot be searched: empty, or only control characters."""


class CollectionError(CitebotError):
    """An evaluation collection folder is missing files or is malformed."""
