"""The errors a user can cause, each with a message that says what to do next.

The command line prints ``str(error)`` as one line and exits non-zero; the bot
turns the same text into a polite reply. Anything else is a bug and gets a
traceback in the logs.

Every error the library raises is defined here, worded for whoever reads it
(a terminal user or a Discord moderator): no command-line flags, no Discord
commands. Where the way out depends on the front end (``--force`` on the command
line, the ``force`` option of ``/article add``), the error is a subclass of its
own and the front end adds the hint.
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


class EmptyQuestionError(QuestionError):
    """The question is empty once invisible characters are removed."""


class QuestionTooLongError(QuestionError):
    """The question is longer than the model and the log accept."""


class ExtractError(CitebotError):
    """Nothing usable could be read from the source."""


class FetchError(CitebotError):
    """A URL that cannot or must not be fetched; the message says which rule refused it."""


class LibraryError(CitebotError):
    """An add or remove that is refused; the message says why and what to do."""


class MissingTitleError(LibraryError):
    """The article has no title; the front end says how to give one."""


class UnknownArticleError(LibraryError):
    """No article with that id is visible from the asking scope."""


class NearDuplicateError(LibraryError):
    """Most of the article's paragraphs are already citable; adding it anyway is allowed.

    The front end says how (``--force``, or the ``force`` option)."""


class LogStoreError(CitebotError):
    """The log database cannot be used; the message says what to do."""
