"""Data sources (one module per family) and the tf.data pipeline."""

from aimodel.data.base import DATASETS, DataBundle, Split
from aimodel.data.spec import InputSpec


def load_data(cfg, seed: int, task: str = "classification") -> DataBundle:
    """Load the dataset named by ``cfg.name`` (a validated dataset config) for ``task`` (the config's ``task``).

    Sources that give class labels only take no ``task`` (the config refuses another task for them).
    """
    loader = DATASETS.get(cfg.name)
    return loader(cfg, seed) if task == "classification" else loader(cfg, seed, task=task)


__all__ = ["DATASETS", "DataBundle", "InputSpec", "Split", "load_data"]
