"""The agent worker: registers with LiveKit, takes jobs, runs sessions; health and metrics."""
