"""confusion_matrix.png and errors.png, drawn with matplotlib's Agg canvas and written atomically.

pyplot is never imported: no display is needed and a notebook's backend is left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from aimodel.fileio import atomic_write

#: above this many classes the cells are too small to print numbers in
ANNOTATE_MAX_CLASSES = 30


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda p: fig.savefig(p, format="png"), suffix=".png")


def write_confusion_png(cm: np.ndarray, class_names: Sequence[str], path: Path, title: str) -> None:
    """Two heat maps side by side: counts, and each row divided by its class's support."""
    n = len(class_names)
    side = min(max(4.0, 0.42 * n + 2.2), 22.0)
    fig = _figure(2 * side + 0.6, side + 0.6)
    fig.suptitle(title)
    support = cm.sum(axis=1, keepdims=True)
    normalised = np.divide(cm, support, out=np.zeros(cm.shape, np.float64), where=support > 0)
    for i, (values, subtitle, fmt) in enumerate(((cm, "counts", "d"), (normalised, "share of each true class",
                                                                         ".2f"))):
        ax = fig.add_subplot(1, 2, i + 1)
        image = ax.imshow(values, cmap="Blues", vmin=0, vmax=max(float(values.max()), 1e-9) if i == 0 else 1.0)
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set_title(subtitle)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_xticks(range(n), labels=list(class_names), rotation=45 if max(map(len, class_names)) > 2 else 0,
                      ha="right" if max(map(len, class_names)) > 2 else "center")
        ax.set_yticks(range(n), labels=list(class_names))
        if n <= ANNOTATE_MAX_CLASSES:
            high = float(values.max()) / 2 if values.max() > 0 else 1.0
            size = 9 if n <= 12 else 7 if n <= 20 else 5
            for r in range(n):
                for c in range(n):
                    v = values[r, c]
                    if i == 1 and v == 0:
                        continue
                    ax.text(c, r, format(v, fmt), ha="center", va="center", fontsize=size,
                            color="white" if v > high else "black")
    _save(fig, path)


def write_errors_png(images: Sequence[np.ndarray], captions: Sequence[str], path: Path, title: str) -> None:
    """A grid of example images, each captioned (``true 3 → 8 (0.97)``); a note when there are none."""
    count = len(images)
    cols = min(6, max(1, count))
    rows = max(1, -(-count // cols))
    fig = _figure(max(4.0, 2.0 * cols), 0.5 + 2.2 * rows)
    fig.suptitle(title)
    if not count:
        ax = fig.add_subplot(1, 1, 1)
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified examples", ha="center", va="center", fontsize=12)
    for i, (img, caption) in enumerate(zip(images, captions)):
        ax = fig.add_subplot(rows, cols, i + 1)
        arr = np.asarray(img)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        elif arr.ndim == 3 and arr.shape[-1] > 3:
            arr = arr[..., :3]
        arr = np.clip(arr, 0, 255).astype(np.uint8)
        small = max(arr.shape[:2]) < 64
        ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=255,
                  interpolation="nearest" if small else "antialiased")
        ax.set_title(caption, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    _save(fig, path)


#: regression plots draw one panel per target, up to this many
MAX_PANELS = 6


def _panels(count: int, title: str):
    shown = min(count, MAX_PANELS)
    cols = min(3, shown)
    rows = -(-shown // cols)
    fig = _figure(max(5.5, 4.2 * cols), 0.8 + 3.8 * rows)
    fig.suptitle(title + (f" (first {shown} of {count} targets)" if count > shown else ""), fontsize=9)
    return fig, [fig.add_subplot(rows, cols, i + 1) for i in range(shown)]


def write_scatter_png(y: np.ndarray, pred: np.ndarray, names: Sequence[str], path: Path, title: str) -> None:
    """Predicted against true value, one panel per target, with the line where they are equal."""
    fig, axes = _panels(len(names), title)
    for j, ax in enumerate(axes):
        t, p = y[:, j], pred[:, j]
        low, high = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
        ax.plot([low, high], [low, high], color="grey", linewidth=1, linestyle="--", label="predicted = true")
        ax.scatter(t, p, s=10, alpha=0.6, edgecolors="none")
        ax.set_xlabel(f"true {names[j]}")
        ax.set_ylabel(f"predicted {names[j]}")
        ax.legend(loc="upper left", fontsize=8)
    _save(fig, path)


def write_residuals_png(y: np.ndarray, pred: np.ndarray, names: Sequence[str], path: Path, title: str) -> None:
    """Residual (predicted - true) against the predicted value, one panel per target."""
    fig, axes = _panels(len(names), title)
    for j, ax in enumerate(axes):
        ax.axhline(0.0, color="grey", linewidth=1, linestyle="--")
        ax.scatter(pred[:, j], pred[:, j] - y[:, j], s=10, alpha=0.6, edgecolors="none")
        ax.set_xlabel(f"predicted {names[j]}")
        ax.set_ylabel("residual (predicted - true)")
    _save(fig, path)
