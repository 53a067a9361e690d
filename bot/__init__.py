"""The Discord layer of citebot (built on the ``index`` library; no FAISS or model imports).

``app.py`` is the bot and how ``citebot serve`` runs it; ``cogs/`` holds the
features, one extension each; ``utils/`` what they share (the gate, the
moderator check, answering, memory, rendering, the buttons).
"""
