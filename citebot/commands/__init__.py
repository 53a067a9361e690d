"""The ``citebot`` subcommands, one module each; ``citebot.cli`` wires them to the parser.

Each module exposes ``cmd_<name>(args, settings) -> int``, the handler the parser
calls, and returns the exit code. Modules are named after their command, with a
trailing underscore where the name is a builtin or the ``index`` package
(``list_``, ``eval_``, ``index_``). What several commands share (opening the
engine, logging moderation, the Discord token, the hint after an error) is in
``common``. Heavy ``index`` modules are imported inside the handlers, so that
``citebot --help`` stays fast.
"""
