"""gate stage nodes."""
