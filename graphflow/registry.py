"""Creating nodes by name: built-in stages and third-party packages via entry points.

A package adds nodes by declaring entry points in the ``graphflow.nodes`` group
(``name = "package.module:NodeClass"``); ``NodeRegistry.discover()`` finds them, so
``pip install graphflow-foo`` adds nodes without code changes. Options are checked
against the node's ``Options`` struct before the node is built.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from importlib import metadata
from typing import Any

import msgspec

from graphflow.errors import ConfigError
from graphflow.node import Node

ENTRY_POINT_GROUP = "graphflow.nodes"
"""The entry-point group third-party node packages register their node classes in."""


class NodeRegistry:
    """A name → node class table; an instance, never a global, so tests and apps stay separate."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Node]] = {}
        self._origins: dict[str, str] = {}

    @classmethod
    def discover(cls, group: str = ENTRY_POINT_GROUP, *, only: Collection[str] | None = None) -> NodeRegistry:
        """A registry holding every node class registered under the entry-point ``group``.

        ``only``: load just these names (a session needs three providers, not every module).
        """
        registry = cls()
        for entry in metadata.entry_points(group=group):
            if only is not None and entry.name not in only:
                continue
            origin = f"{entry.dist.name if entry.dist else '?'} ({entry.value})"
            try:
                loaded = entry.load()
            except Exception as exc:
                raise ConfigError(
                    f"node entry point {entry.name!r} from {origin} failed to load: {exc}",
                    hint="fix or uninstall the package that declares it",
                ) from exc
            registry.register(entry.name, loaded, origin=origin)
        return registry

    def register(self, name: str, node_class: Any, *, origin: str = "code") -> None:
        """Register ``node_class`` under ``name``; a name may be registered once."""
        if not (isinstance(node_class, type) and issubclass(node_class, Node)):
            raise ConfigError(f"{name!r} from {origin} is {node_class!r}, not a Node subclass")
        if name in self._classes and self._classes[name] is not node_class:
            raise ConfigError(
                f"node name {name!r} is registered twice: by {self._origins[name]} and by {origin}",
                hint="uninstall one of the packages, or register under another name",
            )
        self._classes[name] = node_class
        self._origins[name] = origin

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._classes)

    def get(self, kind: str) -> type[Node]:
        """The node class registered as ``kind``."""
        try:
            return self._classes[kind]
        except KeyError:
            close = difflib.get_close_matches(kind, self._classes, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(self.names())}"
            raise ConfigError(f"no node type named {kind!r}", hint=hint, code="config.unknown_node") from None

    def create(
        self,
        kind: str,
        *,
        name: str | None = None,
        options: Mapping[str, Any] | msgspec.Struct | None = None,
        **extra: Any,
    ) -> Node:
        """Build a ``kind`` node named ``name`` from ``options`` (a mapping is validated and converted).

        ``extra`` goes to the node's constructor as it is (a model hub, a stage's replies).
        """
        node_class = self.get(kind)
        opts: msgspec.Struct | None
        if options is None or isinstance(options, msgspec.Struct):
            opts = options
        else:
            fields = node_class.Options.__struct_fields__
            unknown = sorted(set(options) - set(fields))
            if unknown:
                raise ConfigError(
                    f"unknown option(s) for {kind} node {name or ''!r}: {', '.join(unknown)}",
                    hint=f"{node_class.Options.__name__} fields: {', '.join(fields) or 'none'}",
                    code="config.bad_options",
                )
            try:
                opts = msgspec.convert(dict(options), node_class.Options, strict=False)
            except msgspec.ValidationError as exc:
                raise ConfigError(
                    f"bad options for {kind} node {name or ''!r}: {exc}",
                    hint=f"{node_class.Options.__name__} fields: "
                    + ", ".join(node_class.Options.__struct_fields__),
                    code="config.bad_options",
                ) from exc
        return node_class(opts, name=name, **extra)
