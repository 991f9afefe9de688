"""The ``search:`` section of a config: which keys to vary, how, and what to optimise.

Example::

    search:
      algorithm: bayesian        # random | bayesian | hyperband (KerasTuner's oracles)
      objective: val_accuracy    # or val_loss, accuracy, loss; the direction is inferred
      max_trials: 20
      space:                     # key paths into this same config
        training.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}
        model.filters: {choice: [[32, 64], [64, 128]]}
        model.dropout: {uniform: [0.0, 0.5]}
        training.batch_size: {choice: [32, 64, 128]}
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, model_serializer, model_validator

from aimodel.section import Section, rule


class Param(Section):
    """One searched key: exactly one of choice, uniform, log_uniform or int."""

    choice: Optional[list[Any]] = Field(None, min_length=1, description="Values to pick from (any YAML values).")
    uniform: Optional[tuple[float, float]] = Field(None, description="[low, high]: a float drawn evenly.")
    log_uniform: Optional[tuple[float, float]] = Field(
        None, description="[low, high], both > 0: a float drawn evenly on a log scale (learning rates).")
    integer: Optional[tuple[int, int]] = Field(
        None, alias="int", description="[low, high]: an integer, both ends included.")

    @model_validator(mode="after")
    def _one_kind(self):
        given = [k for k in ("choice", "uniform", "log_uniform", "integer") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of choice, uniform, log_uniform, int"
                             + (f" (got {', '.join(given)})".replace("integer", "int") if given else ""))
        kind = given[0]
        if kind != "choice":
            low, high = getattr(self, kind)
            if not low < high:
                raise rule("int" if kind == "integer" else kind, f"low must be less than high, got [{low}, {high}]")
            if kind == "log_uniform" and low <= 0:
                raise rule(kind, f"a log range must stay above 0, got [{low}, {high}]")
        return self

    @model_serializer(mode="wrap")
    def _only_the_given_kind(self, handler):
        return {k: v for k, v in handler(self).items() if v is not None}  # as the user wrote it

    @property
    def kind(self) -> str:
        return next(k for k in ("choice", "uniform", "log_uniform", "integer") if getattr(self, k) is not None)

    def probes(self) -> list[Any]:
        """Values that stand for the whole range when checking it against the schema."""
        if self.choice is not None:
            return list(self.choice)
        return list(getattr(self, self.kind))


class SearchConfig(Section):
    """How ``aimodel tune`` searches: the algorithm, the objective, the budget and the space."""

    algorithm: Literal["random", "bayesian", "hyperband"] = Field(
        "random", description="KerasTuner oracle: random, bayesian (Gaussian process) or hyperband "
        "(trains many trials briefly and only the best for training.epochs).")
    objective: Literal[
        "val_accuracy", "val_loss", "accuracy", "loss", "val_mae", "val_rmse", "val_r2", "mae", "rmse", "r2",
        "val_micro_f1", "val_macro_f1", "micro_f1", "macro_f1",
    ] = Field("val_accuracy", description="Metric to optimise (its best epoch per trial); loss, mae and rmse are "
              "minimised, the others maximised. Default: val_accuracy for classification, val_loss otherwise.")
    max_trials: int = Field(10, ge=1, description="Trials to run (random, bayesian).")
    executions_per_trial: int = Field(
        1, ge=1, description="Trainings per trial with different seeds; the objective is their mean.")
    hyperband_factor: int = Field(3, ge=2, description="hyperband: how much the epoch budget grows per round.")
    space: dict[str, Param] = Field(..., min_length=1, description="Key path -> how to vary it.")

    @model_validator(mode="after")
    def _keys(self):
        for key in self.space:
            if key.startswith("search.") or key in ("name", "search"):
                raise rule("space", f"'{key}' cannot be searched (only dataset, model, training and seed keys)")
        return self

    @property
    def direction(self) -> str:
        from aimodel.tasks import direction

        return direction(self.objective)
