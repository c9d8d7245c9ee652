"""Labelled end-of-turn cuts of the recorded fixtures (see README.md)."""
