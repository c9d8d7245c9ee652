"""What a worker process tells the program that started it: that it registered, and its jobs.

``serve_processes`` hands each worker process the sending end of a pipe. A process
that dies (SIGKILL, out of memory, a crash in native code) cannot report its own jobs;
from what came down the pipe the supervisor knows which jobs it was running and ends
them for it (see ``graphflow.worker.lost``).
"""

from __future__ import annotations

import logging
from multiprocessing.connection import Connection

import msgspec

log = logging.getLogger("graphflow.worker")


class JobOpened(msgspec.Struct, frozen=True, tag="opened"):
    """A job started: where its agent is and how the server dispatched it."""

    job_id: str
    room: str
    identity: str
    agent_name: str
    metadata: str


class JobClosed(msgspec.Struct, frozen=True, tag="closed"):
    """A job ended (and reported its own status to the server)."""

    job_id: str


class Registered(msgspec.Struct, frozen=True, tag="registered"):
    """The process registered with the server and takes jobs."""

    worker_id: str


LedgerMessage = JobOpened | JobClosed | Registered
"""One message down the pipe."""


class JobLedger:
    """The worker's end: each change is one small message (a failed send is logged once, never raised)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._broken = False

    def send(self, message: LedgerMessage) -> None:
        """Tell the supervisor about ``message``."""
        if self._broken:
            return
        try:
            self._connection.send_bytes(msgspec.msgpack.encode(message))
        except (OSError, ValueError) as exc:
            self._broken = True
            log.warning("cannot reach the supervising process (%s); jobs go unreported if this one dies", exc)


class ProcessJobs:
    """The supervisor's end for one worker process: what it registered and the jobs it has open."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._decoder = msgspec.msgpack.Decoder(LedgerMessage)
        self.open: dict[str, JobOpened] = {}
        """Jobs started and not yet ended, by id."""
        self.registered = False

    def read(self) -> None:
        """Take in every message waiting in the pipe (nothing blocks; a closed pipe ends the reading)."""
        try:
            while self._connection.poll():
                message = self._decoder.decode(self._connection.recv_bytes())
                if isinstance(message, JobOpened):
                    self.open[message.job_id] = message
                elif isinstance(message, JobClosed):
                    self.open.pop(message.job_id, None)
                else:
                    self.registered = True
        except (EOFError, OSError):
            pass
        except msgspec.DecodeError as exc:
            log.warning("unreadable message from a worker process: %s", exc)

    def close(self) -> None:
        """Close the supervisor's end of the pipe."""
        self._connection.close()
