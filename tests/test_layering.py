"""The rings hold: the services never load discord, aiohttp or an adapter, and no modules import each other
in a circle (STYLE.md, docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import bot.services

ROOT = Path(__file__).parents[1]
ADAPTERS = ("discord", "aiohttp", "prometheus_client", "cogs", "webhooks", "bot.runtime", "bot.__main__", "bot.metrics")


def service_modules() -> list[str]:
    return sorted(
        info.name for info in pkgutil.walk_packages(bot.services.__path__, prefix="bot.services.") if info.name
    )


def test_the_services_are_found() -> None:
    """A guard for the tests below: they look at every services module, and there are many."""
    names = service_modules()
    assert {"bot.services.escrow.service", "bot.services.events.processor", "bot.services.tickets.service"} <= set(
        names
    )
    assert len(names) >= 20


def test_each_services_module_imports_alone_without_discord_aiohttp_or_an_adapter() -> None:
    """In a fresh interpreter, import the services one by one; after each, nothing of the outer rings is loaded."""
    script = """
import importlib, json, sys
adapters = tuple(json.loads(sys.argv[1]))
loaded = lambda: sorted(m for m in sys.modules if m in adapters or m.startswith(tuple(a + "." for a in adapters)))
culprits = {}
for name in json.loads(sys.argv[2]):
    importlib.import_module(name)
    if loaded():
        culprits[name] = loaded()
        break
print(json.dumps(culprits))
"""
    args = [sys.executable, "-c", script, json.dumps(ADAPTERS), json.dumps(service_modules())]
    result = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=120, check=True)
    assert json.loads(result.stdout) == {}


def test_bot_itself_is_light_and_still_offers_create_bot() -> None:
    script = "import sys, bot; print(sorted(m for m in ('discord', 'aiohttp', 'cogs') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"
    from bot import create_bot
    from cogs.client import create_bot as real

    assert create_bot is real


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports, anywhere in it (lazy and TYPE_CHECKING imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` needs the module; `from module import name` the module itself.
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    paths = [p for package in ("bot", "cogs", "webhooks") for p in (ROOT / package).rglob("*.py")]
    paths = [p for p in paths if "migrations" not in p.parts]
    known = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, known) - {_module_name(p)} for p in paths}


def test_no_services_module_names_an_adapter() -> None:
    graph = import_graph()
    services = [name for name in graph if name.startswith("bot.services")]
    assert len(services) >= 20
    for name in services:
        bad = {target for target in graph[name] if target.startswith(ADAPTERS)}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_no_import_circles() -> None:
    graph = import_graph()
    assert len(graph) > 40
    circles = _strongly_connected(graph)
    assert circles == [], f"modules importing each other in a circle: {circles}"


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of two or more modules that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_circle_finder_finds_a_circle() -> None:
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _strongly_connected({"a": {"b"}, "b": set()}) == []
