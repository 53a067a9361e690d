"""Retrieval core of citebot: corpus files, passages, embeddings, the index and search.

Nothing here imports discord: the command line and the Discord bot are thin shells
over this package.
"""
