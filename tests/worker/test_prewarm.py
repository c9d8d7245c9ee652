"""The room agent's prewarm loads every model before the worker takes a job."""

from __future__ import annotations

import pytest

from graphflow.models import ModelHub
from graphflow.worker.agent_file import load_agent
from graphs import room_agent

from ..fixtures import ROOT, model_cache


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
