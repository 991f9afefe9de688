"""curves.png: loss and metrics per epoch, training and validation."""

from __future__ import annotations

from pathlib import Path

from aimodel.fileio import atomic_write
from aimodel.training.records import read_metrics

CURVES_FILE = "curves.png"


def write_curves(run_dir: Path) -> bool:
    """Draw metrics.csv into ``curves.png`` (atomically); False when there is nothing to draw.

    Uses matplotlib's Agg canvas directly, never pyplot, so it neither needs a
    display nor changes the backend of a notebook that calls the library.
    """
    rows = read_metrics(run_dir)
    if not rows:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [int(r["epoch"]) for r in rows]
    base = [k for k in rows[0] if k not in ("epoch", "learning_rate", "seconds") and not k.startswith("val_")]
    panels = [k for k in ("loss", "accuracy") if k in base] + [k for k in base if k not in ("loss", "accuracy")]
    panels.append("learning_rate")
    fig = Figure(figsize=(4.2 * len(panels), 3.4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    for i, key in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        series = [(key, "train")] if key != "learning_rate" else [(key, None)]
        if f"val_{key}" in rows[0]:
            series.append((f"val_{key}", "validation"))
        for column, label in series:
            values = [_num(r.get(column)) for r in rows]
            ax.plot(epochs, values, marker="o", markersize=3, label=label)
        ax.set_title(key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if key == "learning_rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        elif len(series) > 1:
            ax.legend()
    atomic_write(run_dir / CURVES_FILE, lambda p: fig.savefig(p, format="png"), suffix=".tmp")
    return True


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
