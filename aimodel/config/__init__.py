"""Typed configuration: schema and loader.

Attributes resolve lazily so that ``aimodel.config.base`` (imported by every
data and model module for its ``Section`` class) does not pull in the schema,
which itself imports those modules.
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
