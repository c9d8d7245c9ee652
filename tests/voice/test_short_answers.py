"""Short answers are heard and answered; noise that looks like one is not (voice agent, real models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.session import AgentSession
from graphflow.conversation.events import TurnEnded, UserTranscript
from graphflow.models import ModelHub
from graphflow.runtime.clock import VirtualClock
from tests.fixtures import model_cache, read_wav, write_wav


@pytest.fixture(scope="module")
def hub() -> ModelHub:
    return ModelHub(model_cache())


def listen(hub: ModelHub, pcm: np.ndarray, tmp_path: Path) -> AgentSession:
    session = AgentSession(
        SessionOptions(files=FileIO(input=str(write_wav(tmp_path / "in.wav", pcm)))), hub=hub
    )
    clock = VirtualClock()
    clock.run(session.run(clock))
    return session


def words(session: AgentSession) -> list[str]:
    return [e.text for e in session.events if isinstance(e, UserTranscript) and e.final and e.text]


@pytest.mark.parametrize("gain_db", [0, -12])
def test_a_lone_yes_is_heard_and_answered(hub: ModelHub, tmp_path: Path, gain_db: int) -> None:
    pcm = (read_wav("cmd_yes.wav").astype(np.float32) * 10 ** (gain_db / 20)).astype(np.int16)
    session = listen(hub, pcm, tmp_path)
    turns = [e for e in session.events if isinstance(e, TurnEnded)]
    assert [t.text.strip(" .!?").lower() for t in turns] == ["yes"], words(session)
    assert session.metrics and session.metrics[0].voice_to_voice_ms is not None


@pytest.mark.parametrize("word", ["right", "up"])  # Whisper base hears this "left" as "lift"
def test_one_word_answers_are_heard(hub: ModelHub, tmp_path: Path, word: str) -> None:
    # the three one-second Speech Commands clips of cmd_right_left_up.wav, each alone with silence around
    index = ["right", "left", "up"].index(word)
    clip = read_wav("cmd_right_left_up.wav")[index * 16000 : (index + 1) * 16000]
    pcm = np.concatenate([np.zeros(8000, np.int16), clip, np.zeros(8000, np.int16)])
    session = listen(hub, pcm, tmp_path)
    turns = [e.text.strip(" .!?").lower() for e in session.events if isinstance(e, TurnEnded)]
    assert turns == [word], words(session)


def test_dish_clatter_gives_no_words_and_no_turn(hub: ModelHub, tmp_path: Path) -> None:
    session = listen(hub, read_wav("neg_noise_only_dishes.wav"), tmp_path)
    assert words(session) == []
    assert not [e for e in session.events if isinstance(e, TurnEnded)]
    assert not session.metrics
