"""The ``graphflow`` command line."""
