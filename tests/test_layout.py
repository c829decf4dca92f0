"""The layout's rules, read from the imports themselves (ARCHITECTURE.md explains them):
wings import only wings below them, nothing imports in a circle, bot/ and cogs/ lean on
the engine and not on each other, cogs load nothing heavy, and no module outgrows its
job."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.standins.cli import ROOT

# Bottom to top: a module may import its own wing and any wing below it.
WINGS = (
    "",  # the shared records at the bottom: config, errors, results, ratings, ...
    "audioset",
    "sources",
    "catalog",
    "listening",
    "index",
    "ranking",
    "quality",
    "engine",
    "ops",
    "__main__",
)
HEAVY = ("numpy", "annoy", "sqlalchemy", "tensorflow", "yt_dlp")
MAX_LINES = 500
ENGINE_MAX_LINES = 300


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(path: Path, here: str | None = None) -> set[str]:
    """Every module ``path`` (the module ``here``) imports when it runs: function-local
    imports too, and not those under ``if TYPE_CHECKING``, which never run."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    here = here or _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            found.add(origin)
            for alias in node.names:  # "from . import jobs" imports a module
                if (ROOT / Path(*origin.split("."), f"{alias.name}.py")).exists():
                    found.add(f"{origin}.{alias.name}")
    return found


def _ours(top: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / top).rglob("*.py"))}


MODULES = {**_ours("recommender"), **_ours("bot"), **_ours("cogs")}
GRAPH = {
    name: {m for m in imports_of(path) if m in MODULES and m != name}
    for name, path in MODULES.items()
}


def wing_of(module: str) -> str:
    """A wing's folder (its face too), the engine, __main__, or '' for the bottom."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1] if parts[1] in WINGS else ""


def test_wings_import_only_wings_below_them() -> None:
    upward = []
    for module, targets in GRAPH.items():
        if not module.startswith("recommender.") or wing_of(module) == "__init__":
            continue
        rank = WINGS.index(wing_of(module))
        for target in targets:
            if target == "recommender":
                upward.append(f"{module} -> recommender (the face is for callers)")
            elif target.startswith("recommender.") and WINGS.index(wing_of(target)) > rank:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that run up the wings:\n" + "\n".join(sorted(upward))


def test_nothing_imports_in_a_circle() -> None:
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not circles, "\n".join(" -> ".join(c) for c in circles)


def test_bot_and_cogs_lean_on_the_engine_not_on_each_other() -> None:
    leaks = []
    for module, targets in GRAPH.items():
        for target in targets:
            if module.startswith("bot") and target.startswith("cogs"):
                leaks.append(f"{module} -> {target}")
            if (
                module.startswith("cogs.")
                and target.startswith("cogs.")
                and not target.startswith("cogs.utils")
                and not module.startswith("cogs.utils")
            ):
                leaks.append(f"{module} -> {target}")
            if module.startswith("recommender") and target.startswith(("bot", "cogs")):
                leaks.append(f"{module} -> {target}")
    assert not leaks, "\n".join(sorted(leaks))


def test_cogs_and_the_face_load_nothing_heavy() -> None:
    """Loading a cog (or ``import recommender``) must not load numpy, annoy, SQLAlchemy,
    TensorFlow or yt-dlp: cogs reach data only through the engine the bot hands them."""
    cogs = sorted(m for m in MODULES if m.startswith("cogs."))
    probe = (
        "import importlib, json, sys\n"
        f"for name in {[*cogs, 'recommender']!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("recommender")))
def test_no_module_outgrows_its_job(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    limit = ENGINE_MAX_LINES if module == "recommender.engine" else MAX_LINES
    assert lines < limit, f"{module} has {lines} lines (at most {limit - 1})"


def test_the_rules_see_the_leaks_they_forbid(tmp_path: Path) -> None:
    """The reader of imports finds a function-local import, a relative one two levels
    up, and ignores one made for type checkers only."""
    sample = tmp_path / "probe.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "from ..catalog import store\n"
        "if TYPE_CHECKING:\n"
        "    from ..engine import Engine\n"
        "def f():\n"
        "    from ..quality.simulation import Simulation\n"
    )
    found = imports_of(sample, "recommender.ranking.probe")
    assert "recommender.catalog.store" in found
    assert "recommender.quality.simulation" in found
    assert "recommender.engine" not in found
    assert WINGS.index(wing_of("recommender.quality.simulation")) > WINGS.index(
        wing_of("recommender.ranking.probe")
    )
