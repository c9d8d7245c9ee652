"""Compile checks, one per module; each returns the problems it finds, naming nodes and ports."""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx

from graphflow.compiler.checks import cancel_edges, cycles, handlers, latency, port_types, unconnected
from graphflow.compiler.flatten import FlatGraph
from graphflow.errors import CompileIssue

Check = Callable[[FlatGraph, nx.MultiDiGraph], list[CompileIssue]]

STRUCTURE_CHECKS: tuple[Check, ...] = (
    unconnected.check,
    handlers.check,
    cancel_edges.check,
    cycles.check,
    latency.check,
)
"""Checks that need only the flattened graph; ``port_types`` runs after negotiation."""

__all__ = ["STRUCTURE_CHECKS", "Check", "port_types"]
