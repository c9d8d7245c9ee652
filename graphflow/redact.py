"""Keeping secrets out of reprs, logs and error messages, shown the same way everywhere.

A settings struct that holds an API key, an API secret, an access token or an
encryption key names those fields with :func:`redacted`; its ``repr``, ``str`` and rich's
pretty printing then show each of them as ``'***'`` (an empty value stays ``''``, so an
unset key is still visible; a mapping keeps its keys), and URLs that may carry
credentials without them. Encoding is untouched: ``msgspec`` still writes and reads
the real values. :func:`scrub` takes access tokens and known secrets out of free text
(an SDK's error message, a log line), :class:`ScrubTokens` out of every record of a
logger (the LiveKit SDK logs a refused token whole); :func:`safe_url` takes the password
and query values out of a URL before it is shown.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterator
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
"""What a secret is shown as."""

JWT = re.compile(r"eyJ[\w-]*\.[\w-]+\.[\w-]*")
"""An access token (a JSON Web Token: three base64url parts, the first a JSON header)."""

_C = TypeVar("_C", bound=type)


def mask(value: object) -> object:
    """``value`` as it may be shown: ``'***'`` for a non-empty secret, a mapping with its values masked."""
    if isinstance(value, dict):
        return {key: mask(item) for key, item in value.items()}
    if value is None or value == "" or value == b"":
        return value
    return MASK


def redacted(*secrets: str, urls: tuple[str, ...] = ()) -> Callable[[_C], _C]:
    """Class decorator: ``repr``, ``str`` and rich show fields ``secrets`` as ``'***'``, ``urls`` safe."""

    def apply(cls: _C) -> _C:
        names = _field_names(cls)
        unknown = [s for s in (*secrets, *urls) if s not in names]
        if unknown:
            raise TypeError(f"{cls.__name__} has no field(s) {', '.join(unknown)} to redact")
        hidden, links = frozenset(secrets), frozenset(urls)

        def shown(self: object) -> Iterator[tuple[str, object]]:
            for name in names:
                value = getattr(self, name)
                if name in hidden:
                    value = mask(value)
                elif name in links and isinstance(value, str):
                    value = safe_url(value)
                yield name, value

        def __repr__(self: object) -> str:
            fields = ", ".join(f"{name}={value!r}" for name, value in shown(self))
            return f"{type(self).__name__}({fields})"

        def __rich_repr__(self: object) -> Iterator[tuple[str, object]]:
            yield from shown(self)

        setattr(cls, "__repr__", __repr__)  # noqa: B010 - a method of the decorated class
        setattr(cls, "__rich_repr__", __rich_repr__)  # noqa: B010
        setattr(cls, "__redacted_fields__", hidden)  # noqa: B010
        return cls

    return apply


SECRET_NAMES = frozenset({"api_key", "api_secret", "secret", "token", "password", "shared_key"})
"""Names of settings whose values are never shown, wherever they stand in a nested mapping."""


def mask_secrets(data: object) -> object:
    """``data`` (plain values: mappings, lists) with the value of every secret-named key masked."""
    if isinstance(data, dict):
        return {k: mask(v) if k in SECRET_NAMES and v else mask_secrets(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [mask_secrets(item) for item in data]
    return data


def redacted_fields(obj: object) -> frozenset[str]:
    """The fields of ``obj`` (an instance or a class) that :func:`redacted` hides."""
    fields: frozenset[str] = getattr(obj, "__redacted_fields__", frozenset())
    return fields


def scrub(text: str, *secrets: str | bytes) -> str:
    """``text`` with every access token (JWT) and each non-empty value of ``secrets`` replaced by ``***``."""
    text = JWT.sub(MASK, text)
    for secret in secrets:
        plain = secret.decode("utf-8", "replace") if isinstance(secret, bytes) else secret
        if plain:
            text = text.replace(plain, MASK)
    return text


class ScrubTokens(logging.Filter):
    """A logging filter that shows every access token (JWT) in a record's message as ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message if it holds a token; never drops a record."""
        message = record.getMessage()
        if JWT.search(message):
            record.msg, record.args = JWT.sub(MASK, message), ()
        return True


def scrub_logs(*names: str) -> None:
    """Keep access tokens out of the records of the loggers ``names`` (once per logger)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ScrubTokens) for f in logger.filters):
            logger.addFilter(ScrubTokens())


def safe_url(url: str) -> str:
    """``url`` with its password and the values of its query parameters shown as ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:{MASK}@{host}"
    query = parts.query
    if query:
        query = urlencode([(key, MASK) for key, _ in parse_qsl(query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _field_names(cls: type) -> tuple[str, ...]:
    struct_fields: tuple[str, ...] | None = getattr(cls, "__struct_fields__", None)
    if struct_fields is not None:
        return struct_fields
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    raise TypeError(f"redacted() needs a msgspec Struct or a dataclass, not {cls.__name__}")
