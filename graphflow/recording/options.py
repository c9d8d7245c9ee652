"""The session's options in a recording: written without secrets, read back for a replay.

``report.json`` keeps the :class:`SessionOptions` the session ran with, so ``graphflow
replay`` runs the recorded user audio through the same settings without being told them
again. Secrets never go into the folder: any value under a key that names a key, a
secret, a token or a password is written as ``""`` (a provider then falls back to its
environment variable, as it does when the key is unset).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:  # the session options hold a RecordOptions: imported when first needed
    from graphflow.agent.options import SessionOptions

SECRET_KEY = re.compile(r"(^|_)(key|secret|token|password)s?$", re.IGNORECASE)
"""Option names whose values are secrets (``api_key``, ``api_secret``, ``token``)."""

NOT_REPLAYED = ("files", "record")
"""Options a replay sets itself: its own input and output, and no second recording."""


def recorded_options(options: SessionOptions) -> dict[str, Any]:
    """``options`` as JSON-ready builtins, every secret emptied."""
    builtins: dict[str, Any] = _blank_secrets(msgspec.to_builtins(options))
    return builtins


def options_of(report: dict[str, Any]) -> SessionOptions | None:
    """The session options a recording's report keeps (None: an older recording has none)."""
    from graphflow.agent.options import SessionOptions

    stored = report.get("options")
    if not isinstance(stored, dict):
        return None
    kept = {k: v for k, v in stored.items() if k not in NOT_REPLAYED}
    try:
        return msgspec.convert(kept, SessionOptions)
    except msgspec.ValidationError:
        return None  # options of another version of graphflow: the defaults, as before


def _blank_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (
                ""
                if isinstance(k, str) and SECRET_KEY.search(k) and isinstance(v, str)
                else _blank_secrets(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_blank_secrets(v) for v in value]
    return value
