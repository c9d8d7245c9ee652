"""An Agent: who the session is talking as (its instructions, for now)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Agent:
    """The agent's instructions (the system prompt the language model gets)."""

    instructions: str = "You are a friendly, concise voice assistant."
