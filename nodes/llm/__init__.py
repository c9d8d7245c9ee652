"""llm stage nodes."""
