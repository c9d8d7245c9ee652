"""Jobs lost with their worker process: ended in their rooms, and a new agent asked for where a caller waits.

The server cannot be told a dead process's job failed (only the worker that holds a
job may update it, and that worker is gone), so its agent would stay in the room until
its peer connection times out, about 20 s, and the caller would wait for an agent that
never speaks again. The supervisor removes that agent at once through the server API,
and, when the caller is still there, dispatches a new agent to the room (once per
job): the call goes on, with a new agent that starts afresh.
"""

from __future__ import annotations

import logging

import aiohttp
from livekit import api
from livekit.protocol import models

from graphflow.worker.ledger import JobOpened
from graphflow.worker.settings import ServerAccess

log = logging.getLogger("graphflow.worker")


def _server(access: ServerAccess) -> api.LiveKitAPI:
    return api.LiveKitAPI(
        access.http_url, access.api_key, access.api_secret, timeout=aiohttp.ClientTimeout(10)
    )


async def end_lost_jobs(access: ServerAccess, jobs: list[JobOpened], why: str) -> None:
    """Remove each lost job's agent from its room (one already gone is fine), logging each as failed."""
    async with _server(access) as server:
        for job in jobs:
            log.warning("job %s in room %r failed: %s", job.job_id, job.room, why)
            try:
                request = api.RoomParticipantIdentity(room=job.room, identity=job.identity)
                await server.room.remove_participant(request)
            except (api.TwirpError, aiohttp.ClientError, TimeoutError) as exc:
                log.info(
                    "job %s: its agent %s is not in room %r (%s)", job.job_id, job.identity, job.room, exc
                )
            else:
                log.info("job %s: its agent %s was removed from room %r", job.job_id, job.identity, job.room)


async def redispatch_lost_jobs(access: ServerAccess, jobs: list[JobOpened]) -> list[str]:
    """Dispatch a new agent to each lost job's room that still has a caller; the rooms it did that for.

    Only jobs of a named agent (explicit dispatch) are dispatched again: with automatic
    dispatch the server starts jobs for new rooms only.
    """
    again: list[str] = []
    async with _server(access) as server:
        for job in jobs:
            if not job.agent_name:
                log.info("job %s: automatic dispatch, so no new agent for room %r", job.job_id, job.room)
                continue
            try:
                listed = await server.room.list_participants(api.ListParticipantsRequest(room=job.room))
                callers = [p for p in listed.participants if p.kind != models.ParticipantInfo.Kind.AGENT]
                if not callers:
                    log.info("job %s: nobody left in room %r, no new agent", job.job_id, job.room)
                    continue
                request = api.CreateAgentDispatchRequest(
                    agent_name=job.agent_name, room=job.room, metadata=job.metadata
                )
                await server.agent_dispatch.create_dispatch(request)
            except (api.TwirpError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning(
                    "job %s: could not dispatch a new agent to room %r: %s", job.job_id, job.room, exc
                )
                continue
            log.warning(
                "job %s: a new agent is dispatched to room %r, where its caller waits", job.job_id, job.room
            )
            again.append(job.room)
    return again
