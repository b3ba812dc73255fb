"""Heatmaps and bars of the diagnosis tables (matplotlib, Agg). Each returns its path or None (no data)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vlmq.figures import save_figure  # noqa: E402

from .findings import SATURATION_FRAC  # noqa: E402
from .probes import TOKEN_TYPES  # noqa: E402

TYPE_ORDER = tuple(TOKEN_TYPES.values())


def _grid(rows, row_key, col_key, value_key, cols, reduce=max) -> tuple[np.ndarray, list]:
    """A [len(row values), len(cols)] matrix of reduced values (NaN where nothing was measured)."""
    row_values = sorted({r[row_key] for r in rows})
    grid = np.full((len(row_values), len(cols)), np.nan)
    for i, rv in enumerate(row_values):
        for j, cv in enumerate(cols):
            cell = [r[value_key] for r in rows if r[row_key] == rv and r[col_key] == cv]
            if cell:
                grid[i, j] = reduce(cell)
    return grid, row_values


def _heatmap(ax, grid, rows, cols, title, label, vmin=None, vmax=None):
    image = ax.imshow(grid, aspect="auto", cmap="magma", interpolation="nearest", vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(cols)), cols, fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_title(title, fontsize=9)
    plt.colorbar(image, ax=ax, label=label)


def saturation_heatmap(rows: list[dict], path: Path) -> Path | None:
    """Layer x token type: the larger of K's and V's saturated fraction, one panel per recipe."""
    recipes = list(dict.fromkeys(r["recipe"] for r in rows))
    if not recipes:
        return None
    vmax = max(SATURATION_FRAC, max(r["saturated_frac"] for r in rows))  # one scale: panels compare
    fig, axes = plt.subplots(1, len(recipes), figsize=(3.2 * len(recipes) + 1, 4.2), squeeze=False)
    for ax, recipe in zip(axes[0], recipes):
        grid, layers = _grid(
            [r for r in rows if r["recipe"] == recipe], "layer", "token_type", "saturated_frac", TYPE_ORDER
        )
        _heatmap(ax, grid, layers, TYPE_ORDER, recipe, "saturated fraction", vmin=0.0, vmax=vmax)
        ax.set_ylabel("decoder layer")
    return save_figure(fig, path)


def absmax_heatmap(rows: list[dict], tensor: str, path: Path) -> Path | None:
    """Layer x head |K| (or |V|) maximum, one panel per token type, on one colour scale."""
    mine = [r for r in rows if r["tensor"] == tensor]
    types = [t for t in TYPE_ORDER if any(r["token_type"] == t for r in mine)]
    if not types:
        return None
    heads = sorted({r["head"] for r in mine})
    grids = {t: _grid([r for r in mine if r["token_type"] == t], "layer", "head", "absmax", heads) for t in types}
    vmax = max(float(np.nanmax(g)) for g, _ in grids.values())
    fig, axes = plt.subplots(1, len(types), figsize=(2.6 * len(types) + 1.5, 4.2), squeeze=False)
    for ax, t in zip(axes[0], types):
        grid, layers = grids[t]
        image = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_xticks(range(len(heads)), heads, fontsize=7)
        ax.set_yticks(range(len(layers)), layers, fontsize=7)
        ax.set_title(f"|{tensor.upper()}| max, {t} tokens", fontsize=9)
        ax.set_xlabel("KV head")
    axes[0][0].set_ylabel("decoder layer")
    fig.colorbar(image, ax=list(axes[0]), label="absmax")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sensitivity_bars(rows: list[dict], path: Path) -> Path | None:
    """KL vs BF16 when only one layer is quantized, one panel per recipe."""
    per_layer = [r for r in rows if r["mode"] == "quantize_only" and r["layer"] != ""]
    recipes = list(dict.fromkeys(r["recipe"] for r in per_layer))
    if not recipes:
        return None
    fig, axes = plt.subplots(len(recipes), 1, figsize=(7, 2.6 * len(recipes) + 0.5), squeeze=False)
    for ax, recipe in zip(axes[:, 0], recipes):
        mine = sorted((r for r in per_layer if r["recipe"] == recipe), key=lambda r: r["layer"])
        ax.bar([str(r["layer"]) for r in mine], [r["kl_mean"] for r in mine], color="#C44E52")
        ax.set_title(f"{recipe}: KL vs BF16, one layer quantized at a time", fontsize=9)
        ax.set_xlabel("decoder layer")
        ax.set_ylabel("mean KL (nats)")
    return save_figure(fig, path)


def outlier_heatmap(rows: list[dict], path: Path) -> Path | None:
    """Layer x linear: top input channel absmax over the median channel's (log10)."""
    if not rows:
        return None
    modules = list(dict.fromkeys(r["module"] for r in rows))
    grid, layers = _grid(rows, "layer", "module", "top_ratio", modules)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    _heatmap(ax, np.log10(grid), layers, modules, "input channel outliers: log10(top / median)", "log10 ratio")
    ax.set_ylabel("decoder layer")
    return save_figure(fig, path)
