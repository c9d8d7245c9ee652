"""LiveKit: the server for tests and development, room connection and E2EE, typed RPC."""

from graphflow.redact import scrub_logs

scrub_logs("livekit")  # the SDK logs a token the server refused, whole
