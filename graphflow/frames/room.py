"""What a LiveKit room carries besides media: application data packets."""

from __future__ import annotations

from graphflow.frames.base import Frame


class DataPacket(Frame, frozen=True, kw_only=True, gc=False):
    """An application data packet sent to or received from the participants of a room.

    ``payload`` is the raw bytes and ``topic`` the label receivers filter on. ``reliable``
    packets are retransmitted and arrive in order (up to 15 KiB each); lossy ones are
    not (up to 1300 bytes, one network packet). On a received packet ``sender`` is the
    identity of the participant who sent it (``""`` when the server sent it). On a packet
    to send, ``destinations`` lists the identities to deliver it to; empty means every
    participant of the room.
    """

    payload: bytes
    topic: str = ""
    reliable: bool = True
    sender: str = ""
    destinations: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Length of the payload in bytes."""
        return len(self.payload)

    def text(self, errors: str = "replace") -> str:
        """The payload decoded as UTF-8 (undecodable bytes handled as ``errors`` says)."""
        return self.payload.decode("utf-8", errors)
