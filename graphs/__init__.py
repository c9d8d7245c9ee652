"""Ready graphs built from the stage library, installed as ``graphflow.graphs``."""
