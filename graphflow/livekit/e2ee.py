"""Whether each participant's end-to-end encrypted media can be decrypted here.

A participant whose key differs from ours sends frames that fail to decrypt: the SDK
drops them (the decoder then conceals the gap, a burst of noise at first), and it says
so only sometimes. :class:`E2EEWatch` follows a room's ``e2ee_state_changed`` events
from before it connects (:func:`~graphflow.livekit.room.connect_room` starts one when
the settings carry a key), so :meth:`E2EEWatch.hearable` knows for every participant
whether their media has been decrypted yet, and logs each failure once. The room's
audio source uses it to pass on only audio that was decrypted.
"""

from __future__ import annotations

import logging
import weakref

from livekit import rtc

from graphflow.errors import GraphflowError

log = logging.getLogger("graphflow.livekit")

HEARD = frozenset({rtc.EncryptionState.OK, rtc.EncryptionState.KEY_RATCHETED})
"""States in which a participant's frames are being decrypted."""
FAILED = frozenset(
    {
        rtc.EncryptionState.DECRYPTION_FAILED,
        rtc.EncryptionState.MISSING_KEY,
        rtc.EncryptionState.INTERNAL_ERROR,
    }
)
"""States in which a participant's frames cannot be decrypted."""

_WATCHES: weakref.WeakKeyDictionary[rtc.Room, E2EEWatch] = weakref.WeakKeyDictionary()


class DecryptionFailed(GraphflowError):
    """A participant's encrypted media cannot be decrypted: another key, or no key here."""

    code = "livekit.e2ee_decrypt_failed"


class E2EEWatch:
    """The end-to-end encryption state of each participant of one room, as the SDK reports it."""

    def __init__(self, *, complete: bool) -> None:
        self.complete = complete
        """Whether the watch started before the room connected (so it has missed no event)."""
        self.states: dict[str, rtc.EncryptionState.ValueType] = {}
        """The latest state of each participant, by identity."""

    def hearable(self, identity: str) -> bool | None:
        """True once ``identity``'s frames decrypt, False when they fail, None while unknown."""
        state = self.states.get(identity)
        if state in HEARD:
            return True
        if state in FAILED:
            return False
        return None

    def on_state(self, participant: rtc.Participant | None, state: rtc.EncryptionState.ValueType) -> None:
        """The room's ``e2ee_state_changed`` handler: keep the state, log a failure once."""
        identity = participant.identity if participant is not None else ""
        before = self.states.get(identity)
        self.states[identity] = state
        if state in FAILED and before not in FAILED:
            log.warning(
                "end-to-end encryption: the media of %r cannot be decrypted (%s): "
                "its key differs from this participant's",
                identity,
                rtc.EncryptionState.Name(state),
            )


def watch_e2ee(room: rtc.Room) -> E2EEWatch:
    """The watch of ``room``, started now if it has none (complete only if the room is not connected yet)."""
    watch = _WATCHES.get(room)
    if watch is None:
        watch = E2EEWatch(complete=not room.isconnected())
        room.on("e2ee_state_changed", watch.on_state)
        _WATCHES[room] = watch
    return watch


def e2ee_enabled(room: rtc.Room) -> bool:
    """Whether ``room`` was joined with an end-to-end encryption key."""
    try:
        return bool(room.e2ee_manager.enabled)
    except AttributeError:  # not connected yet: the SDK makes the manager when it connects
        return False
