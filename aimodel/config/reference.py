"""The config reference (``docs/config.md``), generated from the schema itself.

Every key's type, default and description come from the pydantic models, so
the reference cannot drift from what ``load_config`` accepts; a test
regenerates it and fails when the committed file is stale::

    aimodel config reference > docs/config.md
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

HEADER = """# Config reference

Generated from the schema by `aimodel config reference > docs/config.md`; do not edit by hand
(`tests/test_config_reference.py` fails when this file is stale). Besides `name` and `seed`, a
config has three sections: `dataset` (its `name` picks one of the sources below), `model` (its
`architecture` picks one of the builders below) and `training`. Defaults are filled in
when the file loads; `aimodel config show CONFIG` prints a config with every default.
"""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" or null" if type(None) in args else "")
    if origin in (list, tuple, dict):
        inner = ", ".join(_type_name(a) for a in args if a is not Ellipsis)
        return f"{origin.__name__}[{inner}]" if inner else origin.__name__
    if isinstance(tp, type):
        if issubclass(tp, BaseModel):
            return "mapping"
        return {"PosixPath": "path", "Path": "path"}.get(tp.__name__, tp.__name__)
    return str(tp).replace("typing.", "")


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(see below)"
    elif field.default is PydanticUndefined:
        return "**required**"
    else:
        value = field.default
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"`{value}`"
    return f"`{value}`"


def _nested(tp: Any) -> list[type]:
    """Section classes inside a field's annotation (e.g. ``Optional[EarlyStopping]``)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    out: list[type] = []
    for arg in typing.get_args(tp):
        out += _nested(arg)
    return out


def _section(model: type, path: str, skip: tuple[str, ...] = ()) -> list[str]:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    subsections: list[tuple[str, type]] = []
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        key = f"{path}.{field.alias or name}" if path else (field.alias or name)
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {desc} |")
        if typing.get_origin(field.annotation) is dict:
            key += ".<key>"
        subsections += [(key, sub) for sub in _nested(field.annotation)]
    out = lines + [""]
    for sub_path, sub in subsections:
        doc = (sub.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        out += [f"#### `{sub_path}`", "", doc, ""] if doc else [f"#### `{sub_path}`", ""]
        out += _section(sub, sub_path)
    return out


def _variants_section(title: str, annotation: Any, key: str, path: str) -> list[str]:
    from aimodel.config.loader import union_variants, unwrap_optional

    out = [f"## `{path}`", "", title, ""]
    for tag, cls in sorted(union_variants(unwrap_optional(annotation), key).items()):
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        out += [f"### `{path}.{key}: {tag}`", "", doc, ""]
        out += _section(cls, path, skip=(key,))
    return out


def config_reference() -> str:
    """The whole reference as Markdown."""
    from aimodel.config.schema import Config, DatasetConfig, ModelConfig
    from aimodel.training.config import TrainingConfig

    out = [HEADER, "## Top level", ""]
    out += _section(Config, "", skip=("dataset", "model", "training"))
    out += _variants_section("Where the data comes from; `name` picks the source.", DatasetConfig, "name", "dataset")
    out += _variants_section("The network; `architecture` picks the builder.", ModelConfig, "architecture", "model")
    out += ["## `training`", "", (TrainingConfig.__doc__ or "").strip(), ""]
    out += _section(TrainingConfig, "training")
    return "\n".join(out).rstrip() + "\n"
