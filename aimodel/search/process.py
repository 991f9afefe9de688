"""How tune and cv train: their runs one after another, in the one process they were started in."""

from __future__ import annotations

from aimodel.errors import ConfigError
from aimodel.training.distribute import cluster_from_env


def one_process(cfg, command: str):
    """``cfg`` for a command that trains its runs one after another in this process (tune, cv).

    Such a command is started once, not once per worker, so a ``TF_CONFIG`` left in the environment
    (a TFJob, Ray) must not make every trial wait for a cluster: ``auto`` then means one process
    (``none``); ``multi_worker`` is refused with a message.
    """
    setting = cfg.training.distribute
    if setting == "multi_worker":
        raise ConfigError(f"training.distribute: multi_worker: `aimodel {command}` trains its runs one after "
                          "another in one process; set none, mirrored or auto (auto ignores TF_CONFIG here) and "
                          "train across workers with `aimodel train`")
    if setting == "auto" and cluster_from_env() is not None:
        return cfg.model_copy(update={"training": cfg.training.model_copy(update={"distribute": "none"})})
    return cfg
