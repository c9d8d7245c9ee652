"""Ready graphs: short examples built on the stage library and the agent layer."""
