"""Provider fallback: one LLM, TTS or STT stage in the graph that falls back through a list of providers."""
