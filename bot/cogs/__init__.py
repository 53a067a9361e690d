"""The bot's features, one cog each: asking (ask.py) and moderating articles (articles.py)."""
