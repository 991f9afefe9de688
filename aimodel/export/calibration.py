"""Representative samples for int8 calibration, drawn from the run's own training split."""

from __future__ import annotations

from pathlib import Path

from aimodel.data.spec import InputSpec
from aimodel.errors import ExportError
from aimodel.export.graph import InferenceGraph
from aimodel.inference.exported import make_feed


def calibration_feeds(run_dir: Path, spec: InputSpec, graph: InferenceGraph, samples: int) -> tuple[list[dict], dict]:
    """``samples`` training samples (seeded by the run's seed), each prepared as the exported graph takes it.

    The training split is rebuilt from the run's ``config.yaml`` exactly as training
    built it (same source, same seed, same split), so calibration never sees test data.

    Returns:
        One feed per sample (runtime input name -> array with a batch of one), and a
        description for the report (how many, from where, the seed).
    """
    import numpy as np

    from aimodel.config import load_config
    from aimodel.data import load_data
    from aimodel.evaluation.evaluate import _batches

    if samples < 1:
        raise ExportError(f"--calibration: expected at least 1 sample, got {samples}")
    config = run_dir / "config.yaml"
    if not config.is_file():
        raise ExportError(f"{run_dir}: no config.yaml, so its training split (int8 calibration data) is unknown")
    cfg = load_config(config)
    train = load_data(cfg.dataset, cfg.seed, cfg.task).train
    if len(train) == 0:
        raise ExportError(f"{config}: the training split is empty; int8 needs calibration samples")
    count = min(samples, len(train))
    chosen = np.sort(np.random.default_rng(cfg.seed).choice(len(train), size=count, replace=False))
    part = train.take(chosen)
    feeds = [make_feed(graph.inputs, batch, graph.tokenizer, str(config)) for batch in _batches(part.x, spec, 1)]
    return feeds, {"samples": count, "from": f"training split of {config}", "seed": cfg.seed}
