"""Shared matplotlib helpers: a figure saved atomically as PNG and PDF."""

from __future__ import annotations

from pathlib import Path

from snnbench.atomic import atomic_write_bytes


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only), imported when a figure is drawn:
    the workflow must not load matplotlib while it parses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in (".png", ".svg"):
        path = stem.with_suffix(suffix)

        def write(f, fig=fig, fmt=suffix[1:]):
            fig.savefig(f, format=fmt, dpi=150, bbox_inches="tight")

        atomic_write_bytes(path, write)
        paths.append(path)
    pyplot().close(fig)
    return paths
