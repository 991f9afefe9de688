"""Optimizer, learning-rate schedule, loss, class weights and compile settings from the ``training`` section.

Schedules are Keras ``LearningRateSchedule`` objects keyed on the optimizer's
step counter, which is saved with the optimizer, so a resumed run continues the
schedule exactly where it stopped. ``plateau`` is the exception: it changes a
plain learning rate from a callback, and its state goes into ``state.json``.
"""

from __future__ import annotations

from typing import Optional

from aimodel.errors import ConfigError
from aimodel.training.config import TrainingConfig


def make_schedule(training: TrainingConfig, steps_per_epoch: Optional[int]):
    """The learning rate: a float (constant, plateau) or a Keras schedule.

    Without ``steps_per_epoch`` (a model built only to be loaded or inspected)
    the schedule is the constant initial rate.
    """
    import keras

    sched, lr = training.lr_schedule, training.learning_rate
    if sched.type in ("constant", "plateau") or not steps_per_epoch:
        return lr
    schedules = keras.optimizers.schedules
    if sched.type == "cosine":
        warmup = sched.warmup_epochs * steps_per_epoch
        decay = max(1, training.epochs * steps_per_epoch - warmup)
        alpha = sched.min_lr / lr
        if warmup:
            return schedules.CosineDecay(
                0.0, decay, alpha=alpha, warmup_target=lr, warmup_steps=warmup, name="cosine_warmup"
            )
        return schedules.CosineDecay(lr, decay, alpha=alpha, name="cosine")
    return schedules.ExponentialDecay(
        lr, sched.decay_epochs * steps_per_epoch, sched.factor, staircase=sched.type == "step",
        name=sched.type,
    )


def make_optimizer(training: TrainingConfig, steps_per_epoch: Optional[int] = None):
    """The configured optimizer with its schedule and gradient clipping."""
    import keras

    lr = make_schedule(training, steps_per_epoch)
    decay = training.weight_decay or None
    common = {"clipnorm": None, "global_clipnorm": training.gradient_clip_norm,
              "clipvalue": training.gradient_clip_value}
    if training.optimizer == "adam":
        return keras.optimizers.Adam(lr, weight_decay=decay, **common)
    if training.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=training.weight_decay or 0.004, **common)
    if training.optimizer == "sgd":
        return keras.optimizers.SGD(
            lr, momentum=training.momentum, nesterov=training.nesterov, weight_decay=decay, **common
        )
    return keras.optimizers.RMSprop(lr, momentum=training.momentum, weight_decay=decay, **common)


def make_loss_and_metrics(training: TrainingConfig, task: str = "classification", model=None):
    """The task's loss and the metrics a run records (names from :mod:`aimodel.tasks`).

    Classification: sparse integer labels, or one-hot ones when label smoothing needs them (Keras'
    sparse cross-entropy has no label smoothing; the pipeline then one-hot encodes the labels, see
    ``uses_one_hot``). Regression: ``training.loss`` on errors in training standard deviations (read
    from ``model``'s last layer), and MAE, RMSE and R² in the target's unit. Multilabel: binary
    cross-entropy, micro and macro F1 at 0.5. Only built-in or registered objects, so the compiled
    model loads in safe mode.
    """
    import keras

    if task == "regression":
        from aimodel.models.factory import target_scale
        from aimodel.models.layers import StandardizedError

        scale = target_scale(model) if model is not None else None
        return (StandardizedError(training.loss or "mse", scale or [1.0]),
                [keras.metrics.MeanAbsoluteError(name="mae"), keras.metrics.RootMeanSquaredError(name="rmse"),
                 keras.metrics.R2Score(name="r2")])
    if task == "multilabel":
        return (keras.losses.BinaryCrossentropy(),
                [keras.metrics.F1Score(average="micro", threshold=0.5, name="micro_f1"),
                 keras.metrics.F1Score(average="macro", threshold=0.5, name="macro_f1")])
    if uses_one_hot(training):
        return (keras.losses.CategoricalCrossentropy(label_smoothing=training.label_smoothing),
                [keras.metrics.CategoricalAccuracy(name="accuracy")])
    return (keras.losses.SparseCategoricalCrossentropy(),
            [keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


def uses_one_hot(training: TrainingConfig) -> bool:
    return training.label_smoothing > 0


def compile_model(model, training: TrainingConfig, steps_per_epoch: Optional[int] = None,
                  task: str = "classification") -> None:
    """Compile ``model`` for ``task`` with everything the ``training`` section asks for."""
    loss, metrics = make_loss_and_metrics(training, task, model)
    model.compile(
        optimizer=make_optimizer(training, steps_per_epoch),
        loss=loss,
        metrics=metrics,
        steps_per_execution=training.steps_per_execution,
        jit_compile=training.jit_compile,
    )
    if training.fused_optimizer:
        fuse_updates(model.optimizer)


def fuse_updates(optimizer) -> bool:
    """Apply Adam and AdamW updates with TensorFlow's fused kernel; True when it did.

    Keras computes one Adam update as about a dozen separate tensor operations
    per variable; ``ResourceApplyAdam`` does the same arithmetic (same formula,
    same bias correction) in one pass. On a CPU, where small models are bound
    by per-operation overhead, that is most of a training step (see
    docs/speed.md). Only the instance's ``update_step`` changes: the optimizer
    is still a ``keras.optimizers.Adam``, saved and loaded as one. Sparse
    gradients, amsgrad and other backends keep Keras' own update.
    """
    import keras

    from aimodel.compat import fuse_adam_update

    opt = getattr(optimizer, "inner_optimizer", optimizer)  # mixed_float16 wraps it for loss scaling
    if (keras.backend.backend() != "tensorflow" or type(opt) not in (keras.optimizers.Adam, keras.optimizers.AdamW)
            or opt.amsgrad):
        return False
    return fuse_adam_update(opt)


def class_weights(cfg, bundle) -> Optional[dict[int, float]]:
    """``training.class_weight`` as {class index: weight}."""
    import numpy as np

    spec = cfg.training.class_weight
    if spec is None:
        return None
    n = bundle.num_classes
    if spec == "balanced":
        counts = np.bincount(bundle.train.y, minlength=n).astype(float)
        return {i: float(len(bundle.train) / (n * c)) if c else 1.0 for i, c in enumerate(counts)}
    names = bundle.spec.class_names
    out = {i: 1.0 for i in range(n)}
    for key, weight in spec.items():
        if isinstance(key, str) and key in names:
            idx = names.index(key)
        elif isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            idx = int(key)
        else:
            idx = -1
        if not 0 <= idx < n:
            raise ConfigError(
                f"training.class_weight.{key}: no such class; classes are 0..{n - 1} "
                f"or by name: {', '.join(names[:12])}{', ...' if n > 12 else ''}"
            )
        out[idx] = float(weight)
    return out
