"""The install is complete: every module and every import the code makes resolves.

A missing transitive dependency (lxml 6 moved ``lxml.html.clean`` into the
separate ``lxml_html_clean`` distribution, which justext imports through
trafilatura) shows up here on a fresh machine, not in a user's first
``citebot add``. Several modules import lazily inside functions to keep start-up
fast, so importing the modules alone is not enough: every import statement the
code contains, at any depth, is resolved too.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import pkgutil
from pathlib import Path

import pytest

from index.articles.extract import from_html
from index.articles.fetch import fetch, policy_from
from tests.pages import page_server

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("index", "bot", "citebot", "corpus")


def project_modules() -> list[str]:
    """Every module of the installed project's packages."""
    names: list[str] = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        names.append(package)
        names += [info.name for info in pkgutil.walk_packages(module.__path__, package + ".")
                  if not info.name.endswith(".__main__")]  # runs the CLI when imported
    return sorted(names)


def imported_names() -> set[str]:
    """The absolute module names that any import statement in the project names."""
    names: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module)
    return names


@pytest.mark.parametrize("name", project_modules())
def test_every_project_module_imports(name: str) -> None:
    """Each module of index/, bot/, citebot/ and corpus/ imports on this install."""
    assert importlib.import_module(name).__name__ == name


def test_every_import_in_the_code_resolves() -> None:
    """Imports made inside functions (trafilatura, pypdf, matplotlib...) resolve as well."""
    names = imported_names()
    assert {"trafilatura", "discord", "faiss", "aiosqlite"} <= names  # the scan sees lazy ones
    failed = {}
    for name in sorted(names):
        try:
            importlib.import_module(name)
        except ImportError as exc:  # collect them all: one run names every gap
            failed[name] = f"{type(exc).__name__}: {exc}"
    assert not failed, failed


def test_html_page_with_reader_comments_from_a_local_server() -> None:
    """The whole page path: fetched from 127.0.0.1, extracted by trafilatura, comments kept."""
    with page_server() as base:
        policy = policy_from(["127.0.0.1"], 5.0, 5_000_000, 5)
        fetched = asyncio.run(fetch(f"{base}/pages/llamas.html", policy))
    article = from_html(fetched.body, fetched.url)
    assert article.title == "Llamas of the Altiplano"
    assert "Lake Titicaca" in " ".join(article.paragraphs)
    assert [c.author for c in article.comments] == ["Rosa Mamani", "Pedro", ""]
