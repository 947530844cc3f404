"""Figures (matplotlib, no display needed): written whole as PNG or SVG by file suffix."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from overtrain.files import write_atomic


def save(figure: plt.Figure, path: str | Path) -> None:
    """Write a figure whole or not at all; the suffix picks the format."""
    path = Path(path)
    write_atomic(path, lambda temporary: figure.savefig(temporary, format=path.suffix.lstrip(".") or "png",
                                                        dpi=150, bbox_inches="tight"))
    plt.close(figure)


def backtest_figure(frame: pd.DataFrame, title: str) -> plt.Figure:
    """Relative error of backtest forecasts against extrapolation distance, loss and error side by side."""
    quantities = [q for q in ("loss", "error") if f"{q}_rel_err" in frame]
    figure, axes = plt.subplots(1, len(quantities), figsize=(5.5 * len(quantities), 4.2), squeeze=False)
    families = sorted(frame["family"].unique())
    colours = plt.get_cmap("tab10")
    for axis, quantity in zip(axes[0], quantities, strict=True):
        for k, family in enumerate(families):
            part = frame[frame["family"] == family]
            values = 100 * np.abs(part[f"{quantity}_rel_err"].to_numpy(dtype=float))
            axis.scatter(part["distance"], np.clip(values, 1e-3, 1e3), s=14, alpha=0.7, color=colours(k),
                         label=family)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("extrapolation distance: target compute / fit-set compute")
        axis.set_ylabel(f"|relative error| of {quantity} forecast (%)")
        axis.grid(True, which="major", alpha=0.3)
        axis.set_title(f"{quantity}")
        axis.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure
