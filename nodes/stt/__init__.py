"""stt stage nodes."""
