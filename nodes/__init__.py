"""The stage library: one module per stage or provider, installed as ``graphflow.nodes``."""
