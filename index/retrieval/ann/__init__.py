"""Vector indexes behind one seam (``VectorIndex``); the only package that imports faiss."""

from index.retrieval.ann.base import VectorIndex
from index.retrieval.ann.flat import FlatIndex

__all__ = ["FlatIndex", "VectorIndex"]
