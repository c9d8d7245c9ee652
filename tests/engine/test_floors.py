"""The floors of the house: each may import the floors below it and never one above.

engine (``graphflow`` minus the folders below) < conversation contract
(``graphflow/conversation``) < stages (``nodes``) < agent (``graphflow/agent``, and the
session observers ``telemetry`` and ``recording``) < programs
(``graphflow/bench``, ``cli``, ``worker``, ``playground``, ``__main__``; ``graphs``). docs/concepts.md
draws them.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLOORS = ("engine", "conversation", "stages", "agent", "programs")
AGENT = ("agent", "telemetry", "recording")
PROGRAMS = ("bench", "cli", "worker", "playground", "__main__")


def floor_of(module: str) -> str | None:
    """The floor of a module of this project (None: not ours)."""
    parts = module.split(".")
    if parts[0] == "nodes":
        return "stages"
    if parts[0] == "graphs":
        return "programs"
    if parts[0] != "graphflow":
        return None
    sub = parts[1] if len(parts) > 1 else ""
    if sub in AGENT:
        return "agent"
    if sub == "conversation":
        return "conversation"
    if sub in PROGRAMS:
        return "programs"
    return "engine"


def imports(path: Path) -> list[str]:
    """The absolute imports in ``path`` (relative ones stay inside their package)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def test_no_floor_imports_one_above_it() -> None:
    wrong = []
    files = [p for base in ("graphflow", "nodes", "graphs") for p in (ROOT / base).rglob("*.py")]
    assert len(files) > 150  # the whole source tree was read
    for path in files:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        here = floor_of(module)
        assert here is not None
        for imported in imports(path):
            there = floor_of(imported)
            if there is not None and FLOORS.index(there) > FLOORS.index(here):
                wrong.append(f"{path.relative_to(ROOT)} ({here}) imports {imported} ({there})")
    assert wrong == []


def test_the_tree_has_no_links() -> None:
    links = [
        p for base in ("graphflow", "nodes", "graphs") for p in (ROOT / base).rglob("*") if p.is_symlink()
    ]
    assert links == []
