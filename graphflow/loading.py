"""Finding a graph from a command-line TARGET: ``file.py``, ``file.py:factory`` or a module.

Without ``:factory`` the target module must define ``build_graph()`` or ``graph``. A factory
(or ``graph``) may be a :class:`~graphflow.graph.Graph`, a compiled plan, or any object with
a ``compile()`` method returning one (an agent session, for instance).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from graphflow.compiler.plan import CompiledGraph
from graphflow.errors import ConfigError, GraphflowError

DEFAULT_FACTORIES = ("build_graph", "graph")
"""Names looked up in a target module that names no factory."""


def load_object(target: str) -> Any:
    """The object TARGET names (the factory's result, if it is callable)."""
    value = load_attribute(target)
    return value() if callable(value) and not hasattr(value, "compile") else value


def load_attribute(target: str) -> Any:
    """The attribute TARGET names, as it is (not called)."""
    location, _, attr = target.partition(":")
    if location.endswith(".py") or "/" in location or Path(location).is_file():
        module = _import_file(Path(location))
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as exc:
            raise ConfigError(
                f"cannot import module {location!r}: {exc}",
                hint="give a path to a .py file, or a module importable from this environment",
            ) from exc
    names = (attr,) if attr else DEFAULT_FACTORIES
    for name in names:
        if hasattr(module, name):
            return getattr(module, name)
    raise ConfigError(
        f"{target!r} has no {' or '.join(repr(n) for n in names)}",
        hint="name the factory explicitly, e.g. file.py:make_graph",
    )


def load_plan(target: str) -> CompiledGraph:
    """The compiled plan of the graph TARGET names."""
    obj = load_object(target)
    if isinstance(obj, CompiledGraph):
        return obj
    compile_method = getattr(obj, "compile", None)
    if callable(compile_method):
        plan = compile_method()
        if isinstance(plan, CompiledGraph):
            return plan
    raise ConfigError(
        f"{target!r} gave {type(obj).__name__}, not a graph",
        hint="the factory must return a Graph (or a compiled plan)",
    )


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise ConfigError(f"no such file: {path}")
    name = f"graphflow_target_{abs(hash(path.resolve()))}"
    if name in sys.modules:  # loaded once per process: its classes stay the same objects
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except GraphflowError:
        raise
    except Exception as exc:
        raise ConfigError(f"{path} raised while loading: {type(exc).__name__}: {exc}") from exc
    return module
