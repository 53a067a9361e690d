"""The bot's features, one cog extension each (``setup(bot)`` adds it): asking (ask.py),
/help and /sources (help.py), moderating articles (articles.py) and auto-annotation
(annotate.py). A cog imports only ``bot.utils``, never another cog."""
