"""Data sources (one module per family) and the tf.data pipeline."""

from aimodel.data.base import DATASETS, DataBundle, Split
from aimodel.data.spec import InputSpec


def load_data(cfg, seed: int) -> DataBundle:
    """Load the dataset named by ``cfg.name`` (a validated dataset config)."""
    return DATASETS.get(cfg.name)(cfg, seed)


__all__ = ["DATASETS", "DataBundle", "InputSpec", "Split", "load_data"]
