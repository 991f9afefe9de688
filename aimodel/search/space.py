"""Turning the ``search.space`` into KerasTuner hyperparameters and sampled values into configs."""

from __future__ import annotations

import copy
import json
from typing import Any

from aimodel.config.schema import Config
from aimodel.errors import ConfigError
from aimodel.search.config import SearchConfig


def base_dict(cfg: Config) -> dict:
    """The config as plain data, without its search section (what every trial starts from)."""
    data = cfg.model_dump(mode="json", by_alias=True)
    data.pop("search", None)
    return data


def trial_config(base: dict, values: dict[str, Any], source: str) -> Config:
    """``base`` with each key path in ``values`` set, validated by the same schema as any config."""
    from aimodel.config.loader import apply_overrides, validate_config

    data = copy.deepcopy(base)
    overrides = [f"{key}={json.dumps(value)}" for key, value in values.items()]
    overridden = apply_overrides(data, overrides, source)
    return validate_config(data, source, {}, overridden)


def check_space(cfg: Config, source: str) -> None:
    """Validate every end of every range and every choice against the schema, before anything trains.

    Raises:
        ConfigError: listing each value that makes an invalid config, named by its
            ``search.space`` key.
    """
    search = cfg.search
    if search is None:
        raise ConfigError(f"{source}: no search section; add one (see docs/tune.md), e.g.\n"
                          "search:\n  space:\n    training.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}")
    base = base_dict(cfg)
    problems = []
    for key, param in search.space.items():
        for value in param.probes():
            try:
                trial_config(base, {key: value}, source)
            except ConfigError as exc:
                detail = str(exc).replace(f"{source}: ", "").replace("--set ", "")
                problems.append(f"search.space.{key}: {json.dumps(value)} gives an invalid config: {detail}")
                break
    if problems:
        raise ConfigError(f"{source}: the search space can produce invalid configs:\n  " + "\n  ".join(problems))


def hyperparameters(search: SearchConfig):
    """KerasTuner hyperparameters for the space; choices are JSON strings (any YAML value)."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for key, param in search.space.items():
        if param.kind == "choice":
            hp.Choice(key, [json.dumps(v) for v in param.choice])
        elif param.kind == "integer":
            hp.Int(key, *param.integer)
        else:
            low, high = getattr(param, param.kind)
            hp.Float(key, low, high, sampling="log" if param.kind == "log_uniform" else "linear")
    return hp


def decode(search: SearchConfig, values: dict[str, Any]) -> dict[str, Any]:
    """Sampled values by key path, choices decoded; KerasTuner's own ``tuner/*`` entries dropped."""
    out = {}
    for key, param in search.space.items():
        if key in values:
            out[key] = json.loads(values[key]) if param.kind == "choice" else values[key]
    return out
