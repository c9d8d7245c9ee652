"""The stage library: one module per stage or provider (the package ``nodes``)."""
