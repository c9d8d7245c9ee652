"""The pipe from a worker process to its supervisor: which jobs are open when the process dies."""

from __future__ import annotations

import multiprocessing

from graphflow.worker.ledger import JobClosed, JobLedger, JobOpened, ProcessJobs, Registered


def opened(job_id: str) -> JobOpened:
    """A job of the agent ``support`` in the room ``room-<job_id>``."""
    return JobOpened(job_id, f"room-{job_id}", f"agent-{job_id}", "support", '{"lang": "en"}')


def test_the_supervisor_knows_the_jobs_still_open_after_the_worker_end_is_gone() -> None:
    receiving, sending = multiprocessing.Pipe(duplex=False)
    ledger, jobs = JobLedger(sending), ProcessJobs(receiving)
    ledger.send(Registered("AW_1"))
    for job_id in ("a", "b", "c"):
        ledger.send(opened(job_id))
    ledger.send(JobClosed("b"))
    sending.close()  # the process died: what it sent is still in the pipe
    jobs.read()
    assert jobs.registered
    assert jobs.open == {"a": opened("a"), "c": opened("c")}
    jobs.read()  # a closed, empty pipe reads as nothing more
    assert list(jobs.open) == ["a", "c"]
    jobs.close()


def test_a_worker_whose_supervisor_is_gone_goes_on() -> None:
    receiving, sending = multiprocessing.Pipe(duplex=False)
    receiving.close()
    ledger = JobLedger(sending)
    ledger.send(opened("a"))  # logged once, not raised
    ledger.send(JobClosed("a"))


def test_garbage_in_the_pipe_is_logged_and_skipped() -> None:
    receiving, sending = multiprocessing.Pipe(duplex=False)
    jobs = ProcessJobs(receiving)
    sending.send_bytes(b"\xc1 not msgpack")
    jobs.read()
    JobLedger(sending).send(opened("a"))
    jobs.read()
    assert list(jobs.open) == ["a"]
