"""Audio received from the room, before the source cuts it into frames: what arrived when."""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

import numpy as np


class Received(NamedTuple):
    """A piece of audio from the room: clock time it arrived, its media time, its samples."""

    at: int
    pts: int
    samples: np.ndarray


class Inbox:
    """Received audio waiting to be cut into frames, with arrival times; bounded by samples held."""

    def __init__(self, limit: int) -> None:
        self.items: deque[tuple[int, np.ndarray]] = deque()
        self.samples = 0
        self.limit = limit

    def put(self, arrived: int, pcm: np.ndarray) -> int:
        """Keep ``pcm``; returns how many samples of the oldest audio were dropped to make room."""
        self.items.append((arrived, pcm))
        self.samples += len(pcm)
        dropped = 0
        while self.samples > self.limit and len(self.items) > 1:
            _, old = self.items.popleft()
            self.samples -= len(old)
            dropped += len(old)
        return dropped

    def get(self) -> tuple[int, np.ndarray]:
        """The oldest audio and its arrival time."""
        arrived, pcm = self.items.popleft()
        self.samples -= len(pcm)
        return arrived, pcm
