"""vad stage nodes."""
