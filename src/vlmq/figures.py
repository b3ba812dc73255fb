"""Saving matplotlib figures (Agg, no display): one way for the report's charts and the diagnosis plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 110


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (tight layout), close it, return the path."""
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
