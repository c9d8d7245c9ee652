"""io stage nodes."""
