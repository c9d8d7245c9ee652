"""tts stage nodes."""
