"""``graphflow bench``: latency and scaling of the voice agent on recorded fixtures."""
