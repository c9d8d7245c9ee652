"""JSON files given on the command line: read one, or say in one line what is wrong with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graphflow.errors import ConfigError


def read_json_object(path: Path, option: str) -> dict[str, Any]:
    """The JSON object in ``path`` (given as ``option``); ConfigError if missing, not JSON or no object."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{option} {path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{option} {path}: not a JSON document ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{option} {path}: expected a JSON object")
    return data
