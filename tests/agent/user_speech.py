"""The user's side of the signup call, generated with text-to-speech (no recording has these words).

Piper speaks each line without its random variation (the same audio on every run); the
lines are resampled to 16 kHz and laid out with a pause after each, in which the agent
answers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr

from graphflow.models import ModelHub
from nodes.tts.piper import PiperOptions, PiperTTS

from ..fixtures import write_wav

RATE = 16000
USER = [
    ("I would like to sign up for the newsletter.", 6.0),
    ("John dot Smith at example dot com.", 7.0),
    ("Yes.", 5.0),
    ("Actually, my email is wrong.", 5.0),  # on the phone task: back to the email task
    ("Mary dot Jones at example dot org.", 7.0),
    ("Yes.", 5.0),
    ("My number is two zero two five five five zero one nine eight.", 9.0),
    ("Yes.", 0.0),
]
"""What the user says, and the silence after it (seconds) in which the agent answers."""


async def user_audio(hub: ModelHub, path: Path) -> Path:
    """The user's turns spoken by Piper (without its random variation), at 16 kHz, with ``USER``'s pauses."""
    still = PiperOptions(noise_scale=0.0, noise_w_scale=0.0)  # the same audio on every run
    voice = PiperTTS(still, hub=hub, name="user_voice")
    await voice.setup()
    parts = [np.zeros(RATE // 2, np.int16)]
    for text, pause_s in USER:
        speech = voice.synthesize(text).astype(np.float32)
        parts.append(soxr.resample(speech, voice.rate, RATE).astype(np.int16))
        parts.append(np.zeros(int(pause_s * RATE), np.int16))
    return write_wav(path, np.concatenate(parts))
