"""The exit codes of the ``citebot`` command, in one place.

The README lists them for operators and scripts; ``citebot serve`` and ``sync``
also return the codes of ``bot.app.OperatorError`` (3: token refused, 4: intent
not enabled), which the bot defines because it knows the causes.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1  # a CitebotError: the user's to fix, one line on standard error
EXIT_USAGE = 2  # no command given (argparse also exits 2 on bad arguments)
EXIT_BUG = 70  # an unexpected exception (EX_SOFTWARE): a bug, to be reported
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports 128 + SIGINT
EXIT_TERMINATED = 143  # SIGTERM during `ask`, after the log is flushed (128 + SIGTERM)
