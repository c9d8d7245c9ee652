"""turn stage nodes."""
