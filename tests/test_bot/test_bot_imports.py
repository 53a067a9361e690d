"""The layout of ``bot/`` stays as designed: no import cycle, cogs independent of each other.

The graph is read from the source with ``ast`` (nothing is imported): an edge for
each import of a ``bot`` module. The module-level graph must be acyclic; so must
the graph with every import counted (inside functions and under
``TYPE_CHECKING`` too), so that no cycle is merely hidden. A cog imports no other
cog, ``bot/utils`` imports neither the app nor a cog, and the app names its cogs
only as extensions to load, never by import.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from tests import paths

ROOT = paths.ROOT
BOT = ROOT / "bot"


def module_name(path: Path) -> str:
    """``bot/utils/gate.py`` -> ``bot.utils.gate``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(BOT.rglob("*.py"))}


def is_type_checking(node: ast.If) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(tree: ast.AST, module_level: bool) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of a module: only those run when it is imported
    (``module_level``: not in functions, not under TYPE_CHECKING), or all of them."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            elif module_level and isinstance(
                    child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            elif module_level and isinstance(child, ast.If) and is_type_checking(child):
                for other in child.orelse:
                    visit(other)
            else:
                visit(child)

    visit(tree)
    return found


def targets(node: ast.Import | ast.ImportFrom, importer: str) -> set[str]:
    """The ``bot`` modules an import statement loads (``from .x import y`` loads ``x.y``
    when ``y`` is a module, else ``x``)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in MODULES}
    if node.level:
        package = importer if MODULES[importer].name == "__init__.py" else (
            importer.rpartition(".")[0])
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    found = {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES}
    if base in MODULES and len(found) < len(node.names):
        found.add(base)
    return found


def graph(module_level: bool) -> dict[str, set[str]]:
    """Module -> the ``bot`` modules it imports."""
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges[name] = set().union(*(targets(n, name) for n in imports(tree, module_level)))
    return edges


@pytest.mark.parametrize("module_level", [True, False], ids=["module-level", "every-import"])
def test_bot_has_no_import_cycle(module_level: bool) -> None:
    """A topological order of the modules exists (graphlib names the cycle if not)."""
    edges = graph(module_level)
    assert "bot.app" in edges and "bot.cogs.ask" in edges and "bot.utils.gate" in edges
    assert edges["bot.app"] >= {"bot.utils.gate", "bot.utils.answering"}  # the scan sees them
    try:
        order = list(TopologicalSorter(edges).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle in bot/: {' -> '.join(exc.args[1])}")
    assert set(order) == set(edges)


def test_cogs_and_utils_keep_their_places() -> None:
    """No cog imports another cog; utils import neither a cog nor the app; the app loads
    the cogs as extensions (by name), and each cog module has a ``setup``."""
    edges = graph(module_level=False)
    cogs = {m for m in MODULES if m.startswith("bot.cogs.")}
    assert {"bot.cogs.ask", "bot.cogs.articles", "bot.cogs.annotate"} <= cogs
    for cog in cogs:
        assert not edges[cog] & cogs, (cog, edges[cog] & cogs)
        tree = ast.parse(MODULES[cog].read_text(encoding="utf-8"))
        assert any(isinstance(n, ast.AsyncFunctionDef) and n.name == "setup"
                   for n in tree.body), f"{cog} has no async setup(bot)"
    for util in (m for m in MODULES if m.startswith("bot.utils")):
        assert not edges[util] & (cogs | {"bot.app", "bot.cogs"}), (util, edges[util])
    assert not edges["bot.app"] & cogs
    app = MODULES["bot.app"].read_text(encoding="utf-8")
    for cog in cogs:
        assert f'"{cog}"' in app, f"bot.app does not load {cog}"
