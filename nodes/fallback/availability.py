"""Which providers of a fallback node may be asked now, and the events that say when that changes.

A fallback node keeps a :class:`ProviderPool`: its providers in order of preference,
each with a :class:`ProviderStatus`. A provider that fails (a
:class:`~graphflow.errors.ProviderError`, or no answer within
``FallbackOptions.attempt_timeout_s``) is marked unavailable at once when the error is
not retryable, and after ``max_retryable_failures`` consecutive retryable failures
otherwise. An unavailable provider is skipped for ``retry_interval_s``; then it is
asked again in its place in the order, and if it answers it is available again.

Every change is published to the run's observers as a :class:`ProviderAvailability`
(the fallback node passes ``Node.publish``: observers get a ``NodeEvent``, and a session
passes it on as one of its events); a provider going down is also reported as a
``NodeIssue`` with code ``provider.unavailable``. All times are the run clock's
(``node.now()``, ns).

Providers are not part of the graph: the pool hosts them (:class:`~graphflow.hosting.HostedNodes`)
— attaches them to the fallback node's run (its clock, its observers) in ``setup()``,
sets them up, and closes and detaches them in ``close()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import msgspec

from graphflow.conversation.events import SessionEvent
from graphflow.errors import ConfigError, ProviderError
from graphflow.hosting import HostedNodes
from graphflow.node import Node
from graphflow.timebase import from_seconds, to_seconds

_N = TypeVar("_N", bound=Node)
_T = TypeVar("_T")

UNAVAILABLE = "provider.unavailable"
"""Code of the ``NodeIssue`` reported when a provider is marked unavailable."""


class FallbackOptions(msgspec.Struct, frozen=True):
    """How a fallback node times out, skips and retries its providers."""

    attempt_timeout_s: float = 5.0
    """Longest wait for one provider attempt (LLM: its first chunk); 0 waits without limit."""
    retry_interval_s: float = 30.0
    """How long an unavailable provider is skipped before it is asked again."""
    max_retryable_failures: int = 1
    """Consecutive retryable failures that mark a provider unavailable (other errors: at once)."""


class ProviderStatus(msgspec.Struct):
    """What a fallback node knows about one of its providers (times on the run clock, ns)."""

    name: str
    available: bool = True
    since: int = 0
    """When ``available`` last changed (or, while unavailable, when it last failed)."""
    last_error: str = ""
    failures: int = 0
    """Consecutive retryable failures since it last answered."""


class ProviderAvailability(SessionEvent, frozen=True, kw_only=True):
    """A fallback node's provider went down (``available=False``) or answered again (``True``)."""

    node: str
    provider: str
    available: bool
    reason: str = ""


class ProviderPool(Generic[_N]):
    """The providers of one fallback node in order of preference, with their availability.

    ``publish`` is given every :class:`ProviderAvailability` change (the host's ``publish``).
    """

    def __init__(
        self,
        host: Node,
        providers: Sequence[_N],
        options: FallbackOptions,
        publish: Callable[[ProviderAvailability], None],
    ) -> None:
        if not providers:
            raise ConfigError(f"{type(host).__name__} needs at least one provider")
        if len({id(p) for p in providers}) != len(providers):
            raise ConfigError(f"{type(host).__name__} was given the same provider twice")
        o = options
        if o.attempt_timeout_s < 0 or o.retry_interval_s < 0 or o.max_retryable_failures < 1:
            raise ConfigError(
                f"bad FallbackOptions: {o}",
                hint="attempt_timeout_s >= 0 (0: none), retry_interval_s >= 0, max_retryable_failures >= 1",
            )
        self.host = host
        self.options = options
        self.providers: tuple[_N, ...] = tuple(providers)
        """The providers, most preferred first."""
        self._publish = publish
        self._retry_ns = from_seconds(o.retry_interval_s)
        self._hosted = HostedNodes(host)
        names: set[str] = set()
        statuses = []
        for index, provider in enumerate(self.providers):
            name = provider.name or provider.default_name()
            if name in names:
                name = f"{name}_{index + 1}"
            names.add(name)
            provider.name = name
            statuses.append(ProviderStatus(name=name))
        self.statuses: tuple[ProviderStatus, ...] = tuple(statuses)
        """One status per provider, in the same order."""

    # ------------------------------------------------------------------ lifecycle
    async def setup(self) -> None:
        """Attach every provider to the host's run and set it up; all start available."""
        try:
            for provider in self.providers:
                await self._hosted.start(provider)
        except BaseException:
            await self._hosted.close()  # the setup error is the one worth raising
            raise
        now = self.host.now()
        for status in self.statuses:
            status.available, status.since, status.last_error, status.failures = True, now, "", 0

    async def close(self) -> None:
        """Close every provider (raising the first error after all were closed) and detach them."""
        error = await self._hosted.close()
        if error is not None:
            raise error

    # ------------------------------------------------------------------ choosing
    def candidates(self) -> list[tuple[_N, ProviderStatus]]:
        """The providers to ask now, in order: the available ones and those due for another try."""
        now = self.host.now()
        return [
            (provider, status)
            for provider, status in zip(self.providers, self.statuses, strict=True)
            if status.available or now - status.since >= self._retry_ns
        ]

    def deadline(self) -> asyncio.Timeout:
        """A timeout scope for one attempt (the event loop's time is the run clock's)."""
        limit = self.options.attempt_timeout_s
        return asyncio.timeout(limit if limit > 0 else None)

    def timed_out(self, status: ProviderStatus, what: str = "did not answer") -> ProviderError:
        """The error recorded when ``status``'s provider took longer than the attempt timeout."""
        return ProviderError(
            f"provider {status.name!r} {what} within {self.options.attempt_timeout_s} s",
            hint="the provider is slow or unreachable; raise FallbackOptions.attempt_timeout_s if it is slow",
            retryable=True,
        )

    async def call(self, work: Callable[[_N], Awaitable[_T]]) -> tuple[_N, _T]:
        """``work`` done by the first provider that does it in time, and that provider.

        Each provider that fails or times out is recorded and the next one asked; a
        :class:`ProviderError` naming every failure is raised when none succeeded.
        Errors other than ``ProviderError`` are not a provider's unavailability: they
        propagate at once.
        """
        errors: list[tuple[str, ProviderError]] = []
        for provider, status in self.candidates():
            scope = self.deadline()
            try:
                async with scope:
                    result = await work(provider)
            except ProviderError as exc:
                error = exc
            except TimeoutError:
                if not scope.expired():
                    raise
                error = self.timed_out(status)
            else:
                self.succeeded(status)
                return provider, result
            self.failed(status, error)
            errors.append((status.name, error))
        raise self.exhausted(errors)

    # ------------------------------------------------------------------ outcomes
    def succeeded(self, status: ProviderStatus) -> None:
        """``status``'s provider answered: it is available (an event says so if it was not)."""
        status.failures = 0
        if status.available:
            return
        status.available = True
        status.since = self.host.now()
        self._announce(status, True, "answered again")

    def failed(self, status: ProviderStatus, error: ProviderError) -> None:
        """``status``'s provider failed with ``error``: count it, and mark it down when it must be."""
        now = self.host.now()
        status.last_error = error.message
        if not status.available:
            status.since = now  # still down: skipped for another interval
            return
        status.failures += 1
        if error.retryable and status.failures < self.options.max_retryable_failures:
            return
        status.available = False
        status.since = now
        self._announce(status, False, error.message)
        self.host.report(
            ProviderError(
                f"provider {status.name!r} is unavailable for {self.options.retry_interval_s:g} s: "
                f"{error.message}",
                hint="the next provider answers meanwhile",
                code=UNAVAILABLE,
                retryable=error.retryable,
            )
        )

    def exhausted(self, errors: list[tuple[str, ProviderError]]) -> ProviderError:
        """The error when no provider answered: every failure, or that none was available."""
        if errors:
            detail = "; ".join(f"{name}: {error.message}" for name, error in errors)
            return ProviderError(
                f"every provider of {self.host.qualname or self.host.name!r} failed: {detail}",
                hint="check the providers' endpoints and credentials",
                retryable=any(error.retryable for _, error in errors),
            )
        now = self.host.now()
        wait = to_seconds(min(max(self._retry_ns - (now - s.since), 0) for s in self.statuses))
        down = "; ".join(f"{s.name}: {s.last_error}" for s in self.statuses)
        return ProviderError(
            f"no provider of {self.host.qualname or self.host.name!r} is available ({down}); "
            f"the next is asked again in {wait:.1f} s",
            hint="lower FallbackOptions.retry_interval_s to ask unavailable providers sooner",
            retryable=True,
        )

    def _announce(self, status: ProviderStatus, available: bool, reason: str) -> None:
        self._publish(
            ProviderAvailability(
                at=self.host.now(),
                node=self.host.qualname or self.host.name,
                provider=status.name,
                available=available,
                reason=reason,
            )
        )
