"""graphs/signup_agent.py: it builds, talks offline by text, and runs under ``graphflow run``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from graphflow.cli.chat import converse
from graphflow.cli.main import main
from graphflow.models import ModelHub
from graphflow.runtime.clock import VirtualClock
from graphs.signup_agent import build_agent, build_graph, build_userdata

from ..fixtures import ROOT, model_cache
from .user_speech import user_audio

EXAMPLE = str(ROOT / "graphs" / "signup_agent.py")


def test_the_example_builds_its_voice_graph_and_renders(tmp_path: Path) -> None:
    plan = build_graph().compile()
    assert {"stt", "llm", "tts"} <= {node.name for node in plan.nodes}
    assert main(["render", EXAMPLE, "-o", str(tmp_path / "signup.svg")]) == 0
    assert (tmp_path / "signup.svg").read_text().lstrip().startswith("<?xml")


async def test_the_example_by_text_offline_follows_the_tasks_rules() -> None:
    """``graphflow chat`` with the local responder: the tasks' own rules make the calls."""
    typed = io.StringIO(
        "I'd like to sign up\n"
        "john dot smith at example dot com\n"
        "yes\n"
        "actually my email is wrong\n"
        "jane dot doe at example dot org\n"
        "yes\n"
        "five five five one two three four five six seven\n"
        "yes\n"
        "/quit\n"
    )
    out = io.StringIO()
    signup = build_userdata()
    await converse(build_agent(), signup, None, typed, out)
    text = out.getvalue()
    assert "[handoff SignupAgent -> GetEmailTask]" in text
    assert "agent> I have john dot smith at example dot com. Is that correct?" in text
    assert '[calls go_back({"task_id": "email"})]' in text
    assert text.count("agent> What is your phone number?") == 2  # asked again after going back
    assert "agent> You are signed up with jane dot doe at example dot org and five five five" in text
    assert (signup.email, signup.phone) == ("jane.doe@example.org", "5551234567")


@pytest.mark.timeout(240)  # real Piper (both voices), Silero, Smart Turn and Whisper on 2 cores
def test_graphflow_run_talks_the_example_through_a_generated_call(tmp_path: Path) -> None:
    """The user's side is generated with Piper (see user_speech); every stage is the local default."""
    wav = VirtualClock().run(user_audio(ModelHub(model_cache()), tmp_path / "call.wav"))
    transcript = tmp_path / "transcript.jsonl"
    args = ["run", EXAMPLE, "-i", str(wav), "--fast", "--transcript", str(transcript)]
    assert main([*args, "--set", "files.tail_silence_ms=12000"]) == 0
    said = [json.loads(line) for line in transcript.read_text().splitlines()]
    agent = [u["text"] for u in said if u["role"] == "agent"]
    assert any("What is your email address?" in text for text in agent), agent
    assert agent[-1].startswith("You are signed up with mary dot jones at example dot org"), agent
