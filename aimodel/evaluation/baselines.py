"""``evaluate``'s baselines: the classical models of :mod:`aimodel.models.baselines`, fitted again on the
run's training split and scored on the samples being evaluated."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from aimodel.data.spec import InputSpec
from aimodel.models.baselines import KINDS, better, fit_and_score, wanted

__all__ = ["better", "evaluation_baselines"]


def evaluation_baselines(run_dir: Optional[Path], spec: InputSpec, x_eval,
                         y_eval) -> tuple[Optional[dict], Optional[str]]:
    """For ``evaluate``: the baselines fitted on the run's training split and scored on ``x_eval``.

    Returns:
        ``(baselines, None)``, or ``(None, why not)`` when the run's data cannot be read again,
        or ``(None, None)`` when the run gets no baselines (kind, ``dataset.baseline: false``).
    """
    from aimodel.errors import AimodelError

    if spec.kind not in KINDS or run_dir is None or not (Path(run_dir) / "config.yaml").is_file():
        return None, None
    from aimodel.config import load_config
    from aimodel.data import load_data

    try:
        cfg = load_config(Path(run_dir) / "config.yaml")
        if not wanted(cfg.dataset, spec):
            return None, None
        bundle = load_data(cfg.dataset, cfg.seed, cfg.task)
    except AimodelError as exc:
        return None, f"no baselines: the run's training data cannot be read again ({exc})"
    return fit_and_score(bundle.train.x, bundle.train.y, x_eval, y_eval, spec, cfg.seed), None
