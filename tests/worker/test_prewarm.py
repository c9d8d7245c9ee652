"""The room agent's prewarm loads every model before the worker takes a job."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphflow.agent.options import SessionOptions, with_overrides
from graphflow.errors import ConfigError, ProviderError
from graphflow.models import ModelHub
from graphflow.worker.agent_file import load_agent
from graphflow.worker.job import takes_options
from graphs import room_agent

from ..fixtures import MOONSHINE_CANNOT_RUN, ROOT, cpu_has_avx512, model_cache


async def test_prewarm_loads_the_models_into_the_shared_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = ModelHub(model_cache())
    monkeypatch.setattr(room_agent, "MODELS", hub)  # the module's hub, as a worker process has it
    await room_agent.prewarm()
    loaded = [
        key for key in ("faster-whisper", "piper", "silero", "smart") if any(key in k for k in hub._shared)
    ]
    assert len(loaded) >= 3, hub._shared.keys()


def test_an_agent_file_may_define_prewarm() -> None:
    program = load_agent(str(ROOT / "graphs" / "room_agent.py"))
    assert program.prewarm is not None
    assert load_agent(str(ROOT / "tests" / "livekit" / "agents" / "brief.py")).prewarm is None


async def test_prewarm_loads_the_providers_the_worker_was_set_to(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = ModelHub(model_cache())
    monkeypatch.setattr(room_agent, "MODELS", hub)
    moonshine = with_overrides(SessionOptions(), ["stt.name=moonshine"])
    if cpu_has_avx512():
        await room_agent.prewarm(moonshine)
    else:  # the library cannot run on this CPU: the prewarm says so, and this process goes on
        with pytest.raises(ProviderError, match=MOONSHINE_CANNOT_RUN):
            await room_agent.prewarm(moonshine)
    assert any("moonshine" in k for k in hub._shared) and not any("faster-whisper" in k for k in hub._shared)


def test_a_prewarm_takes_nothing_or_the_session_options(tmp_path: Path) -> None:
    async def bare() -> None: ...

    async def with_options(options: SessionOptions) -> None: ...

    async def too_many(a: int, b: int) -> None: ...

    assert takes_options(bare) is False and takes_options(with_options) is True
    assert takes_options(too_many) is None
    agent = tmp_path / "agent.py"
    agent.write_text("async def entrypoint(ctx): ...\nasync def prewarm(a, b): ...\n")
    with pytest.raises(ConfigError, match="prewarm must be an async function"):
        load_agent(str(agent))
