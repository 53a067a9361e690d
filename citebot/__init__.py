"""citebot: answers questions with quoted, cited passages from a corpus of articles."""

__version__ = "0.1.0"
