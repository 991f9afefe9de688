"""The ``training`` section: hyperparameters of the training loop.

Every key is validated when the config is loaded, including the rules that tie
two keys together (``lr_schedule.warmup_epochs`` < ``epochs``); the runner
then trusts these objects.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import Field, model_validator

from aimodel.section import Section, rule


class LrScheduleConfig(Section):
    """How the learning rate changes during training.

    ``constant``: ``training.learning_rate`` throughout. ``cosine``: cosine decay
    to ``min_lr`` over the run, after ``warmup_epochs`` of linear warmup from 0.
    ``exponential`` / ``step``: multiply by ``factor`` every ``decay_epochs``
    (smoothly / all at once). ``plateau``: multiply by ``factor`` when the
    monitored metric has not improved for ``patience`` epochs.
    """

    type: Literal["constant", "cosine", "exponential", "step", "plateau"] = Field(
        "constant", description="Schedule: constant, cosine, exponential, step or plateau."
    )
    warmup_epochs: int = Field(
        0, ge=0, description="cosine: epochs of linear warmup from 0 to training.learning_rate."
    )
    min_lr: float = Field(0.0, ge=0, description="cosine and plateau: the rate never goes below this.")
    factor: float = Field(
        0.5, gt=0, lt=1, description="exponential, step, plateau: multiplier applied at each decay."
    )
    decay_epochs: int = Field(10, ge=1, description="exponential and step: epochs per decay by factor.")
    patience: int = Field(
        3, ge=1, description="plateau: epochs without improvement of training.monitor before a decay."
    )
    cooldown: int = Field(0, ge=0, description="plateau: epochs to wait after a decay before counting again.")
    min_delta: float = Field(
        1e-4, ge=0, description="plateau: smallest change of the monitored metric that counts as improvement."
    )

    @model_validator(mode="after")
    def _keys_fit_type(self):
        for key in sorted(self.model_fields_set - _SCHEDULE_KEYS[self.type] - {"type"}):
            if getattr(self, key) == type(self).model_fields[key].default:
                continue  # spelling out a default is harmless
            users = [t for t, keys in _SCHEDULE_KEYS.items() if key in keys]
            raise rule(
                key,
                f"is not used by lr_schedule.type {self.type!r} (only by {' and '.join(users)}); "
                "remove it or change the type",
            )
        return self


#: The keys each schedule type reads; setting another one is a mistake worth reporting.
_SCHEDULE_KEYS = {
    "constant": set(),
    "cosine": {"warmup_epochs", "min_lr"},
    "exponential": {"factor", "decay_epochs"},
    "step": {"factor", "decay_epochs"},
    "plateau": {"factor", "patience", "cooldown", "min_delta", "min_lr"},
}


class EarlyStoppingConfig(Section):
    """Stop when the monitored metric stops improving."""

    monitor: Optional[Literal[
        "val_accuracy", "val_loss", "accuracy", "loss", "val_mae", "val_rmse", "val_r2", "mae", "rmse", "r2",
        "val_micro_f1", "val_macro_f1", "micro_f1", "macro_f1",
    ]] = Field(
        None, description="Metric to watch (default: training.monitor). Which fit depends on the task: "
        "accuracy (classification), mae, rmse, r2 (regression), micro_f1, macro_f1 (multilabel); loss always."
    )
    patience: int = Field(5, ge=1, description="Epochs without improvement before stopping.")
    min_delta: float = Field(0.0, ge=0, description="Smallest change that counts as improvement.")
    restore_best: bool = Field(
        True,
        description="The run's final model is the best epoch's (best.keras) rather than the last one; "
        "summary.json's final_model and final_metrics follow it.",
    )


class TrainingConfig(Section):
    """Hyperparameters of the training loop."""

    epochs: int = Field(10, ge=1, description="Number of passes over the training split.")
    batch_size: int = Field(32, ge=1, description="Samples per optimizer step.")
    eval_batch_size: Union[int, Literal["auto"]] = Field(
        "auto",
        description="Samples per call when the validation split is scored after each epoch (no effect on the "
        "weights). auto: 256 (aimodel evaluate's batch), but at least batch_size and at most 8 × batch_size, "
        "so a model trained at a small batch for memory's sake is not scored at a much larger one.",
    )
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = Field("adam", description="Optimizer.")
    learning_rate: float = Field(1e-3, gt=0, description="Initial learning rate.")
    weight_decay: float = Field(
        0.0, ge=0, description="Decoupled weight decay applied by the optimizer (0 = off; adamw: 0.004)."
    )
    momentum: float = Field(0.9, ge=0, lt=1, description="Momentum for sgd and rmsprop.")
    nesterov: bool = Field(False, description="sgd: Nesterov momentum.")
    lr_schedule: LrScheduleConfig = Field(
        default_factory=LrScheduleConfig, description="How the learning rate changes over the run."
    )
    early_stopping: Optional[EarlyStoppingConfig] = Field(
        None, description="Stop early when the metric stops improving (null = train all epochs)."
    )
    monitor: Literal["val_accuracy", "val_loss", "val_mae", "val_rmse", "val_r2", "val_micro_f1", "val_macro_f1"] = Field(
        "val_accuracy",
        description="Validation metric that picks best.keras (falls back to the training "
        "metric when dataset.validation_split is 0). Default: val_accuracy for classification, val_loss for "
        "the other tasks.",
    )
    loss: Optional[Literal["mse", "mae", "huber"]] = Field(
        None, description="task: regression: the loss on standardized targets, mse (default), mae or huber "
        "(delta 1 standard deviation). Classification uses cross-entropy, multilabel binary cross-entropy.",
    )
    threshold: Union[Literal["tune"], float, None] = Field(
        None, description="task: multilabel: the probability a label needs to be predicted: null (0.5), a "
        "number in (0, 1) for every label, or tune: each label's threshold chosen after training on the validation split (the "
        "value of 0.05..0.95 with the best F1 for that label; 0.5 for a label absent there). Saved in meta.json; "
        "evaluate, predict, export and serve use it.",
    )
    class_weight: Union[Literal["balanced"], dict[Union[int, str], float], None] = Field(
        None,
        description="Loss weight per class: 'balanced' (inverse class frequency) or a mapping of "
        "class index or name to weight; null = all 1.",
    )
    gradient_clip_norm: Optional[float] = Field(
        None, gt=0, description="Clip the global norm of the gradients to this value."
    )
    gradient_clip_value: Optional[float] = Field(
        None, gt=0, description="Clip every gradient element to [-value, value]."
    )
    label_smoothing: float = Field(
        0.0, ge=0, lt=1, description="Share of each target spread evenly over all classes."
    )
    precision: Literal["float32", "mixed_bfloat16", "mixed_float16", "auto"] = Field(
        "float32",
        description="Compute dtype: mixed_bfloat16 (CPUs with bf16, TPUs, recent GPUs) or "
        "mixed_float16 (GPUs; adds loss scaling). Variables stay float32. auto: mixed_bfloat16 on a CPU "
        "with bf16 instructions (AVX512_BF16, AMX; not when ONEDNN_MAX_CPU_ISA caps oneDNN below them) and no "
        "GPU, else float32; the run's config.yaml "
        "records the choice. Exports always compute in float32.",
    )
    steps_per_execution: int = Field(
        16,
        ge=1,
        description="Batches run per call into TensorFlow; larger is faster for small models.",
    )
    jit_compile: Union[bool, Literal["auto"]] = Field(
        "auto", description="Compile the training step with XLA (auto: on GPUs only)."
    )
    threads: Union[Literal["parallel_ops"], Annotated[int, Field(ge=1)], None] = Field(
        None,
        description="CPU threads TensorFlow gives one operation; operations run side by side on as many. "
        "parallel_ops: one thread per operation, as many operations side by side as the process has cores "
        "(the arithmetic of 1, whatever the core count); null: TensorFlow's default (one per core for "
        "each). See docs/speed.md. Process-wide.",
    )
    fused_optimizer: bool = Field(
        True,
        description="adam/adamw: apply each update with TensorFlow's fused Adam kernel (same formula, one "
        "operation instead of about twelve; last-bit rounding may differ). false: Keras' own update.",
    )
    deterministic: bool = Field(
        False,
        description="TensorFlow op determinism: bit-for-bit repeatable runs (and resumes) on one "
        "machine, at some cost in speed.",
    )
    tensorboard: bool = Field(True, description="Write TensorBoard logs to <run>/tensorboard.")
    distribute: Literal["auto", "none", "mirrored", "multi_worker"] = Field(
        "auto",
        description="Where training runs: none (one device); mirrored (every local GPU); multi_worker "
        "(several processes or hosts, given by TF_CONFIG or `aimodel train --workers ... --rank N`); auto: "
        "multi_worker when a cluster is given, mirrored when more than one GPU is visible, else none. "
        "batch_size stays the global batch; the learning rate is not rescaled. See docs/distributed.md.",
    )
    worker_timeout: float = Field(
        60.0, gt=0, le=86400,
        description="multi_worker: seconds to wait for every worker to join, and for a worker that stopped "
        "answering before the others stop with an error.",
    )

    @property
    def validation_batch_size(self) -> int:
        """``eval_batch_size`` as a number (``auto`` resolved from ``batch_size``)."""
        if self.eval_batch_size != "auto":
            return self.eval_batch_size
        return min(max(self.batch_size, 256), 8 * self.batch_size)

    @model_validator(mode="after")
    def _cross_field(self):
        if isinstance(self.eval_batch_size, int) and self.eval_batch_size < 1:
            raise rule("eval_batch_size", f"must be 'auto' or at least 1, got {self.eval_batch_size}")
        if self.lr_schedule.warmup_epochs >= self.epochs:
            raise rule(
                "lr_schedule.warmup_epochs",
                f"must be less than training.epochs ({self.epochs}), got {self.lr_schedule.warmup_epochs}",
            )
        if self.lr_schedule.type == "cosine" and self.lr_schedule.min_lr >= self.learning_rate:
            raise rule(
                "lr_schedule.min_lr",
                f"must be less than training.learning_rate ({self.learning_rate}), "
                f"got {self.lr_schedule.min_lr}",
            )
        if isinstance(self.threshold, float) and not 0 < self.threshold < 1:
            raise rule("threshold", f"must be tune or a number between 0 and 1 (exclusive), got {self.threshold}")
        if self.nesterov and self.optimizer != "sgd":
            raise rule("nesterov", f"applies to optimizer sgd only, not {self.optimizer!r}")
        if self.gradient_clip_norm is not None and self.gradient_clip_value is not None:
            raise rule(
                "gradient_clip_value",
                "set either training.gradient_clip_norm or training.gradient_clip_value, not both",
            )
        if isinstance(self.class_weight, dict):
            for cls, weight in self.class_weight.items():
                if not weight > 0:
                    raise rule(f"class_weight.{cls}", f"must be > 0, got {weight}")
                if isinstance(cls, int) and cls < 0:
                    raise rule(f"class_weight.{cls}", "class indices start at 0")
        return self

    def monitors(self, has_validation: bool) -> tuple[str, str]:
        """(checkpoint monitor, early-stopping monitor), falling back to training metrics."""

        def fix(name: str) -> str:
            return name if has_validation or not name.startswith("val_") else name[len("val_"):]

        es = self.early_stopping.monitor if self.early_stopping and self.early_stopping.monitor else None
        return fix(self.monitor), fix(es or self.monitor)
