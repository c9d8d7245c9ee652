"""Loading an agent program: a file with ``entrypoint(ctx)``, maybe ``worker_options`` and ``prewarm()``."""

from __future__ import annotations

import inspect

import msgspec

from graphflow.errors import ConfigError
from graphflow.loading import load_attribute
from graphflow.worker.job import Entrypoint, Prewarm, takes_options
from graphflow.worker.settings import WorkerOptions


class AgentProgram(msgspec.Struct, frozen=True):
    """What an agent file defines: its entrypoint, its worker options and maybe a ``prewarm``."""

    path: str
    entrypoint: Entrypoint
    options: WorkerOptions
    prewarm: Prewarm | None = None


def load_agent(path: str) -> AgentProgram:
    """Import ``path`` and check it defines ``async def entrypoint(ctx)``."""
    entrypoint = load_attribute(f"{path}:entrypoint")
    if not inspect.iscoroutinefunction(entrypoint):
        raise ConfigError(
            f"{path}: entrypoint must be an async function taking a JobContext",
            hint="async def entrypoint(ctx: JobContext) -> None: ...",
        )
    try:
        options = load_attribute(f"{path}:worker_options")
    except ConfigError:
        options = WorkerOptions()
    if not isinstance(options, WorkerOptions):
        raise ConfigError(f"{path}: worker_options must be a WorkerOptions, got {type(options).__name__}")
    try:
        prewarm = load_attribute(f"{path}:prewarm")
    except ConfigError:
        prewarm = None
    if prewarm is not None and not (
        inspect.iscoroutinefunction(prewarm) and takes_options(prewarm) is not None
    ):
        raise ConfigError(
            f"{path}: prewarm must be an async function taking no arguments or the session options",
            hint="async def prewarm(options: SessionOptions) -> None: ...",
        )
    return AgentProgram(path=path, entrypoint=entrypoint, options=options, prewarm=prewarm)
