"""Typed configuration: the whole schema, assembled from every section, and its loader.

The section base class lives at the bottom (:mod:`aimodel.section`); each section
class lives beside the code that uses it. Attributes resolve lazily so that
``import aimodel.config`` stays cheap until the schema is needed.
"""

__all__ = ["Config", "TrainingConfig", "config_from_dict", "dump_config", "load_config"]


def __getattr__(name):
    if name in ("Config", "TrainingConfig"):
        from aimodel.config import schema

        return getattr(schema, name)
    if name in ("config_from_dict", "dump_config", "load_config"):
        from aimodel.config import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'aimodel.config' has no attribute {name!r}")
