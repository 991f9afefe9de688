"""Files that ``keras.datasets`` downloads: where Keras caches them, and fetching them with a clear error offline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from aimodel.errors import DataError


def keras_cache_file(fname: str) -> Path:
    """Where ``keras.utils.get_file`` keeps a downloaded dataset file."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "datasets" / fname


def download(cached: Path, dataset: str, fetch: Callable[[], object], hint: str) -> Path:
    """Return ``cached`` once it exists, calling Keras' downloader if it does not yet."""
    if cached.exists():
        return cached
    try:
        fetch()
    except Exception as exc:  # URLError, socket errors, "Failed to download"
        raise DataError(
            f"cannot download the files of dataset '{dataset}' "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no details'}). "
            f"If this machine is offline, either copy them to the Keras cache at {cached} "
            f"or point the config at a local copy with `{hint}`"
        ) from None
    if not cached.exists():
        raise DataError(f"dataset '{dataset}': Keras finished downloading but {cached} does not exist")
    return cached


def keras_loader(module: str, function: str = "load_data") -> Callable[[], object]:
    def fetch():
        import keras

        return getattr(getattr(keras.datasets, module), function)()

    return fetch
