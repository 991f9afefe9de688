"""Two-phase training of a pretrained backbone: the head first, then the top of the backbone.

The phase is a function of the epoch alone: epochs ``[0, head_epochs)`` train the new head with
the backbone frozen; from epoch ``head_epochs`` on, the top ``fine_tune_layers`` layers of the
backbone train too, with a new optimizer at ``learning_rate × fine_tune_lr_scale`` whose step
counter continues the first one's (so the schedule and ``global_step`` run on). A resumed run
rebuilds the same state from the epoch in ``state.json``: a checkpoint from phase 1 (up to and
including epoch ``head_epochs``) holds the phase-1 optimizer, a later one the phase-2 optimizer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Optional

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    #: the first epoch (0-based) of phase 2, or None when the backbone is never unfrozen
    boundary: Optional[int]


def plan(cfg) -> Optional[Plan]:
    """The phases of ``cfg``'s training, or None for a model trained in one phase (every other architecture)."""
    model = cfg.model
    if getattr(model, "architecture", None) != "pretrained":
        return None
    if not model.fine_tunes() or model.head_epochs == 0:
        return Plan(boundary=None)  # one phase: head only (frozen), or everything from the start
    return Plan(boundary=model.head_epochs)


def background_checkpoints(cfg) -> bool:
    """Two phases change the optimizer's variables mid-run; the background writer's copy of the model cannot
    follow, so such runs save on the training thread."""
    p = plan(cfg)
    return p is None or p.boundary is None or p.boundary >= cfg.training.epochs


def _backbone(model):
    from aimodel.models.pretrained import BACKBONE_LAYER

    return model.get_layer(BACKBONE_LAYER)


def enter_fine_tuning(model, cfg, steps_per_epoch: int, carry_step: bool = True) -> None:
    """Unfreeze the top of the backbone and recompile at the lower rate.

    ``carry_step``: the new optimizer continues the old one's step counter (a run crossing the boundary);
    False when a checkpoint's optimizer will be loaded next (resume after the boundary).
    """
    import keras

    from aimodel.models.pretrained import freeze_for_head
    from aimodel.training.optim import compile_model

    step = int(keras.ops.convert_to_numpy(model.optimizer.iterations)) if carry_step else 0
    freeze_for_head(_backbone(model), frozen=False, cfg=cfg.model)
    t = cfg.training
    compile_model(model, t.model_copy(update={"learning_rate": t.learning_rate * cfg.model.fine_tune_lr_scale}),
                  steps_per_epoch, cfg.task)
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(step)
    log.info("phase 2: %d trainable weights, learning rate × %g", len(model.trainable_weights),
             cfg.model.fine_tune_lr_scale)


def before_restore(model, cfg, steps_per_epoch: int, epoch: int) -> None:
    """Put a freshly built model into the phase the checkpoint of ``epoch`` was saved in."""
    p = plan(cfg)
    if p is not None and p.boundary is not None and epoch > p.boundary:
        enter_fine_tuning(model, cfg, steps_per_epoch, carry_step=False)


def fit(model, cfg, steps_per_epoch: int, fit_epochs: Callable[[int, int], None], initial: int, epochs: int,
        stopped: Callable[[], bool], note: Callable[[str], None] = lambda _: None) -> None:
    """Train epochs ``[initial, epochs)``: ``fit_epochs(start, end)`` runs Keras' fit over that range,
    once per phase; ``stopped()`` says early stopping ended the run."""
    p = plan(cfg)
    boundary = p.boundary if p is not None else None
    if boundary is None or boundary >= epochs or initial > boundary:
        fit_epochs(initial, epochs)
        return
    if initial < boundary:
        fit_epochs(initial, boundary)
        if stopped():
            return
    enter_fine_tuning(model, cfg, steps_per_epoch)
    note(f"epoch {boundary + 1}: fine-tuning the top of the backbone ({cfg.model.fine_tune_layers} layers) at "
         f"learning rate × {cfg.model.fine_tune_lr_scale:g}")
    fit_epochs(boundary, epochs)
