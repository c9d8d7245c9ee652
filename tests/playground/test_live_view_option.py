"""``WorkerOptions.live_view`` (``start|dev --live-view``): a worker's sessions publish live figures."""

from __future__ import annotations

from livekit.protocol import agent as proto
from livekit.protocol import models

from graphflow.cli.main import build_parser
from graphflow.playground.worker import TRACE, watch_sessions
from graphflow.worker.job import JobContext
from graphflow.worker.settings import WorkerOptions


async def test_a_watched_entrypoint_runs_the_agent_with_a_view_hook_and_traced_sessions() -> None:
    seen: list[JobContext] = []

    async def entrypoint(ctx: JobContext) -> None:
        seen.append(ctx)

    options = WorkerOptions(live_view=True, session_overrides=("turn.min_delay_ms=300",))
    wrapped, watched = watch_sessions(entrypoint, options)
    assert watched.session_overrides == (TRACE, "turn.min_delay_ms=300")
    assert watch_sessions(entrypoint, watched)[1].session_overrides == watched.session_overrides  # once

    job = proto.Job(id="AJ_view", room=models.Room(name="support"))
    sets = watched.session_overrides
    ctx = JobContext(job, url="ws://127.0.0.1:7880", token="unused", session_overrides=sets)
    hooks_before = len(ctx._session_hooks)
    await wrapped(ctx)
    assert seen == [ctx]
    assert len(ctx._session_hooks) == hooks_before + 1  # the live view attaches to each session it starts
    assert ctx.session_options.trace


def test_start_and_dev_take_the_flag() -> None:
    parser = build_parser()
    for command in ("start", "dev"):
        assert parser.parse_args([command, "agent.py", "--live-view"]).live_view
        assert not parser.parse_args([command, "agent.py"]).live_view
