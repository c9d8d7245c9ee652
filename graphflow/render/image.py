"""SVG and PNG through Graphviz's ``dot`` program."""

from __future__ import annotations

import shutil
import subprocess

from graphflow.errors import GraphflowError


class GraphvizMissing(GraphflowError):
    """``dot`` is not installed, so SVG/PNG cannot be drawn (DOT and Mermaid still can)."""

    code = "render.graphviz_missing"


def to_image(dot_source: str, fmt: str) -> bytes:
    """Run ``dot -T<fmt>`` on ``dot_source`` and return the image bytes."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(
            f"rendering {fmt.upper()} needs Graphviz's `dot` program, which is not on PATH",
            hint="install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), "
            "or use --format dot / --format mermaid",
        )
    result = subprocess.run([exe, f"-T{fmt}"], input=dot_source.encode(), capture_output=True, check=False)
    if result.returncode != 0:
        raise GraphflowError(
            f"dot failed (exit {result.returncode}): {result.stderr.decode(errors='replace').strip()}",
            code="render.dot_failed",
        )
    return result.stdout
