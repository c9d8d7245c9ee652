"""A test agent: joins the room, stays for ``BRIEF_AGENT_SECONDS`` (default 2), then ends its job."""

from __future__ import annotations

import asyncio
import os

from graphflow.worker.job import JobContext
from graphflow.worker.settings import WorkerOptions

worker_options = WorkerOptions(agent_name=os.environ.get("BRIEF_AGENT_NAME", "brief"))


async def entrypoint(ctx: JobContext) -> None:
    """Join, wait a little, leave."""
    await ctx.connect()

    async def stay() -> None:
        await asyncio.sleep(float(os.environ.get("BRIEF_AGENT_SECONDS", "2")))
        ctx.shutdown("done")

    ctx.spawn(stay(), "stay")
