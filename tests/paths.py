"""Where the tests find the repository and their own data, wherever a test module sits."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
"""The tests folder (support modules, ``data/``)."""
ROOT = TESTS.parent
"""The repository root (``corpus/``, ``bench/``, ``README.md``)."""
DATA = TESTS / "data"
"""Small collections, pages and articles the tests use."""
