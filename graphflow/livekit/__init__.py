"""LiveKit: the server for tests and development, room connection and E2EE, typed RPC."""
