"""audio stage nodes."""
