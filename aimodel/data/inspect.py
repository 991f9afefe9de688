"""``aimodel data inspect``: what a config's dataset holds, and a picture of its training examples."""

from __future__ import annotations

from pathlib import Path

from aimodel.data.base import DataBundle
from aimodel.errors import DataError


def inspect_data(cfg) -> tuple[DataBundle, dict]:
    """Load the dataset of a validated config; returns the bundle and its summary (see records.summarize;
    CSV sources add ``columns``, see :func:`aimodel.data.profile.profile_columns`)."""
    from aimodel.data import load_data
    from aimodel.data.profile import profile_columns
    from aimodel.data.records import summarize

    bundle = load_data(cfg.dataset, cfg.seed, cfg.task)
    summary = summarize(bundle)
    if cfg.task == "regression":
        add_quantiles(summary, bundle)
    if bundle.notes.get("source") == "csv":
        summary["columns"] = profile_columns(bundle)
    return bundle, summary


#: the quantiles ``data inspect`` gives of each regression target, per split
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def add_quantiles(summary: dict, bundle: DataBundle) -> None:
    """Regression: each split's ``targets.<name>`` gains ``quantiles`` (``{"5%": ..., "50%": ...}``)."""
    import numpy as np

    for name, split in (("train", bundle.train), ("val", bundle.val), ("test", bundle.test)):
        if split is None or name not in summary["splits"] or not len(split):
            continue
        y = np.asarray(split.y, np.float64).reshape(len(split), -1)
        for j, target in enumerate(bundle.spec.class_names):
            values = np.quantile(y[:, j], QUANTILES)
            summary["splits"][name]["targets"][target]["quantiles"] = {
                f"{q * 100:g}%": round(float(v), 6) for q, v in zip(QUANTILES, values)}


def write_histogram(bundle: DataBundle, cfg, path: Path, bins: int = 30) -> int:
    """Regression: a histogram of each target on the training split, as PNG; returns the number of targets.

    Raises:
        DataError: the config's task is not regression, or the PNG's folder does not exist.
    """
    import numpy as np

    from aimodel.fileio import atomic_write

    if cfg.task != "regression":
        raise DataError(f"--histogram draws regression targets; this config's task is {cfg.task}")
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise DataError(f"--histogram {path}: folder {path.parent} does not exist")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = bundle.spec.class_names
    y = np.asarray(bundle.train.y, np.float64).reshape(len(bundle.train), -1)
    fig, axes = plt.subplots(1, len(names), figsize=(4.0 * len(names), 3.0), squeeze=False)
    for ax, j, name in zip(axes[0], range(len(names)), names):
        ax.hist(y[:, j], bins=bins, color="#4477aa")
        ax.set_title(f"{name} (training split, {len(y)} rows)", fontsize=9)
        ax.set_xlabel(name)
        ax.set_ylabel("rows")
    fig.tight_layout()
    try:
        atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100), suffix=".png")
    finally:
        plt.close(fig)
    return len(names)


def sample_positions(y, n_classes: int, count: int, seed: int):
    """Up to ``count`` training positions, taking classes in turn so rare classes show too."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pools = [list(rng.permutation(np.flatnonzero(y == c))) for c in range(n_classes)]
    picked = []
    while len(picked) < count and any(pools):
        for pool in pools:
            if pool and len(picked) < count:
                picked.append(int(pool.pop()))
    return picked


def write_grid(bundle: DataBundle, cfg, path: Path, *, augmented: bool = False, count: int = 36) -> int:
    """A labelled grid of training images as PNG; with ``augmented``, as training sees them.

    Returns the number of images drawn.
    """
    import numpy as np

    from aimodel.fileio import atomic_write

    if bundle.spec.kind != "image":
        raise DataError(f"--grid draws images; dataset '{cfg.dataset.name}' holds {bundle.spec.kind} data")
    train = bundle.train
    idx = sample_positions(train.y, len(bundle.spec.class_names), count, cfg.seed)
    images = train.x.load(idx) if train.streamed else train.x[idx]
    images = images.astype(np.float32)
    if augmented:
        from aimodel.data.preprocessing import augmentation_layers

        augment = getattr(cfg.dataset, "augment", None)
        if augment is None or not augment.active:
            raise DataError("--augmented: the config has no dataset.augment settings to show")
        x = images
        for layer in augmentation_layers(augment, cfg.seed):
            x = layer(x, training=True)
        images = np.clip(np.asarray(x), 0, 255)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = int(np.ceil(np.sqrt(len(idx))))
    rows = int(np.ceil(len(idx) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, i in zip(axes.ravel(), images, idx):
        img = image.astype(np.uint8)
        if img.shape[-1] == 1:
            ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(img)
        ax.set_title(bundle.spec.class_names[int(train.y[i])], fontsize=8)
    title = f"{cfg.dataset.name}: training examples" + (" (augmented)" if augmented else "")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise DataError(f"--grid {path}: folder {path.parent} does not exist")
    try:
        atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100), suffix=".png")
    finally:
        plt.close(fig)
    return len(idx)


def write_series_plot(cfg, path: Path) -> dict:
    """``dataset.name: timeseries``: the whole target series as PNG, its training, validation and test parts
    shaded (filled steps included, as training sees them); returns ``{"rows", "parts"}``.

    Raises:
        DataError: the dataset is not a series, or the PNG's folder does not exist.
    """
    import numpy as np

    from aimodel.data.series import parts, read_series
    from aimodel.fileio import atomic_write

    if cfg.dataset.name != "timeseries":
        raise DataError(f"--series draws a time series; this config's dataset.name is {cfg.dataset.name}")
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise DataError(f"--series {path}: folder {path.parent} does not exist")
    series = read_series(cfg.dataset.path, cfg.dataset.reading())
    n = len(series.values)
    p = parts(n, cfg.dataset.test_split, cfg.dataset.validation_split)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10.0, 3.5))
    ax.plot(np.arange(n), series.values[:, 0], color="#333333", linewidth=0.8)
    spans = (("training", 0, p.train, "#4477aa"), ("validation", p.train, p.train + p.val, "#ccbb44"),
             ("test", p.train + p.val, n, "#ee6677"))
    for name, start, stop, colour in spans:
        if stop > start:
            ax.axvspan(start, stop - 1, color=colour, alpha=0.15, label=f"{name} ({stop - start} rows)")
    ticks = np.linspace(0, n - 1, num=min(6, n)).astype(int)
    ax.set_xticks(ticks, [series.times.text(series.times.values[i]) for i in ticks], fontsize=8)
    ax.set_ylabel(cfg.dataset.target)
    ax.set_title(f"{cfg.dataset.path.name}: {cfg.dataset.target}, {n} steps" +
                 (f" ({series.filled} filled)" if series.filled else ""), fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    try:
        atomic_write(path, lambda q: fig.savefig(q, format="png", dpi=100), suffix=".png")
    finally:
        plt.close(fig)
    return {"rows": n, "parts": {"train": p.train, "val": p.val, "test": p.test}}
