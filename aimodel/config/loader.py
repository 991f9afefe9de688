"""Load a YAML config: parse safely, apply --set overrides, validate, explain errors.

Every problem in the file is reported at once, each with the full key path as
written in the YAML, what was expected, what was received and, for misspelt
keys or names, the closest valid one.
"""

from __future__ import annotations

import errno
import os
import typing
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import BaseModel, ValidationError

from aimodel.config.schema import Config
from aimodel.errors import ConfigError
from aimodel.registry import did_you_mean

#: Largest config file read (a real config is a few KB).
MAX_CONFIG_BYTES = 1 << 20
#: Most values a document may hold once its aliases (*name) are expanded, and deepest nesting:
#: a "billion laughs" document of 1 KB would otherwise expand to billions of values.
MAX_YAML_VALUES = 100_000
MAX_YAML_DEPTH = 64
# libyaml's parser when installed (much faster), Python's otherwise; both build plain data only.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> Config:
    """Read, override and validate a config file.

    Args:
        path: YAML file.
        overrides: ``KEY=VALUE`` strings; VALUE is parsed as YAML
            (``training.epochs=3``, ``model.filters=[16,32]``).

    Returns:
        The validated :class:`Config`.

    Raises:
        ConfigError: listing every problem, each with its key path.
    """
    path = Path(path)
    if not path.is_file():
        hint = " (it is a directory)" if path.is_dir() else ""
        raise ConfigError(f"{path}: config file not found{hint}")
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: {size:,} bytes; a config file may be at most {MAX_CONFIG_BYTES:,} bytes "
                              "(is this the right file?)")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the config as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    data, lines = _parse_yaml(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of sections (name, dataset, model, training), "
            f"got {type(data).__name__}"
        )
    data.setdefault("name", path.stem)
    overridden = apply_overrides(data, overrides, str(path))
    return validate_config(data, str(path), lines, overridden)


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> Config:
    """Validate a plain dict (for use from Python); errors read like file errors."""
    return validate_config(dict(data), source, {}, set())


def safe_yaml(text: str, source: str) -> tuple[Any, Any]:
    """Parse YAML safely and within bounds: returns (data, composed node).

    Only plain data is built (no tags run code). A document whose aliases expand to more
    than :data:`MAX_YAML_VALUES` values, or that nests deeper than :data:`MAX_YAML_DEPTH`,
    is refused before anything walks it.

    Raises:
        ConfigError: invalid YAML, or a document beyond the bounds; the message names ``source``.
    """
    # What yaml.safe_load does (compose, then construct with the safe constructor), split in two
    # so the composed document is measured before anything expands its aliases.
    loader = _SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        _check_size(node, source)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a config (at most {MAX_YAML_DEPTH} levels)") from None
    finally:
        loader.dispose()
    return data, node


def _check_size(root, source: str) -> None:
    """Count the values ``root`` expands to (shared alias nodes counted once per use), iteratively."""
    if root is None:
        return
    expanded: dict[int, int] = {}  # id(node) -> values it expands to
    stack: list[tuple[Any, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        if id(node) in expanded:
            continue
        if depth > MAX_YAML_DEPTH:
            raise ConfigError(f"{source}: nested too deeply to be a config (at most {MAX_YAML_DEPTH} levels)")
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            expanded[id(node)] = 1
            continue
        if children_done:
            total = 1 + sum(expanded[id(c)] for c in children)
            if total > MAX_YAML_VALUES:
                raise ConfigError(
                    f"{source}: the YAML expands to more than {MAX_YAML_VALUES:,} values through its "
                    "aliases (*name); a config needs far fewer (is this a 'billion laughs' document?)"
                )
            expanded[id(node)] = total
        else:
            stack.append((node, depth, True))
            stack.extend((c, depth + 1, False) for c in children if id(c) not in expanded)


def _parse_yaml(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    """Return the data (safe loading) and a map of key path -> line number."""
    data, node = safe_yaml(text, source)
    lines: dict[tuple, int] = {}
    problems: list[str] = []
    if node is not None:
        _index_lines(node, (), lines, problems, source)
    if problems:
        raise ConfigError("\n".join(problems))
    return data, lines


def _index_lines(node, prefix: tuple, lines: dict, problems: list, source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key_node, value_node in node.value:
            key = key_node.value
            dotted = ".".join(map(str, prefix + (key,)))
            if key in seen:
                problems.append(
                    f"{source}:{key_node.start_mark.line + 1}: {dotted}: duplicate key "
                    "(the later value would silently win; keep one)"
                )
            seen.add(key)
            lines[prefix + (key,)] = key_node.start_mark.line + 1
            _index_lines(value_node, prefix + (key,), lines, problems, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[prefix + (i,)] = item.start_mark.line + 1
            _index_lines(item, prefix + (i,), lines, problems, source)


def apply_overrides(data: dict, overrides: Iterable[str], source: str) -> set[tuple]:
    """Apply ``KEY=VALUE`` overrides in place; return the overridden key paths."""
    done: set[tuple] = set()
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"--set {item!r}: expected KEY=VALUE, for example --set training.epochs=3"
            )
        value = safe_yaml(raw, f"--set {key}: value {raw!r}")[0] if raw.strip() else None
        parts: list[Any] = key.split(".")
        node: Any = data
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list) and part.isdigit():
                parts[i] = int(part)
                node = node[int(part)] if int(part) < len(node) else None
            elif isinstance(node, dict):
                if not isinstance(node.get(part), (dict, list)):
                    node[part] = {}
                node = node[part]
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"--set {key}: '{'.'.join(map(str, parts[: i + 1]))}' is not a section")
        last = parts[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ConfigError(f"--set {key}: list index out of range (the list has {len(node)} items)")
            parts[-1] = int(last)
            node[int(last)] = value
        else:
            node[last] = value
        done.add(tuple(parts))
    return done


def validate_config(data: dict, source: str, lines: dict, overridden: set) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        found = [_format_error(err, source, lines, overridden) for err in exc.errors()]
        found.sort(key=lambda item: item[0])
        messages = list(dict.fromkeys(text for _, text in found))
        if len(messages) == 1:
            raise ConfigError(messages[0]) from None
        raise ConfigError(f"{len(messages)} problems in the config:\n" + "\n".join(f"  {m}" for m in messages)) from None


# --- error formatting -------------------------------------------------------------------------


def _walk(loc: tuple) -> tuple[list, Any]:
    """Follow a pydantic error location through the schema.

    Returns the location as the user wrote it (variant tags removed) and the
    type found at its end (a pydantic model class where there is one).
    """
    clean: list = []
    current: Any = Config
    i = 0
    while i < len(loc):
        part = loc[i]
        current = unwrap_optional(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            clean.append(part)
            field = current.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                current = None
                i += 1
                continue
            variants = union_variants(field.annotation, field.discriminator) if field.discriminator else {}
            if variants and i + 1 < len(loc):
                tag = loc[i + 1]
                current = variants.get(tag)
                i += 2
                continue
            current = field.annotation
        elif typing.get_origin(current) in (list, tuple):
            clean.append(part)
            args = typing.get_args(current)
            current = args[0] if args else None
        else:
            clean.append(part)
            current = None
        i += 1
    return clean, current


def unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    if typing.get_origin(tp) is typing.Annotated:
        return typing.get_args(tp)[0]
    return tp


def union_variants(annotation: Any, discriminator: str) -> dict[str, type]:
    """Map tag value -> model class for a union discriminated by ``discriminator``."""
    out: dict[str, type] = {}
    members = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Union else (annotation,)
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get(discriminator)
            if field is not None and typing.get_origin(field.annotation) is typing.Literal:
                for value in typing.get_args(field.annotation):
                    out[value] = member
    return out


def _dotted(parts: list) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list {value!r}" if len(repr(value)) < 60 else "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)


def _is_symlink_loop(path: str) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _format_error(err: dict, source: str, lines: dict, overridden: set) -> tuple[float, str]:
    """Return (line number for sorting, message) for one pydantic error."""
    loc = tuple(err["loc"])
    clean, _ = _walk(loc)
    key = _dotted(clean)
    kind = err["type"]
    ctx = err.get("ctx") or {}
    received = err.get("input")

    if kind == "cross_field":  # a section's rule between keys; ctx names the key it is reported at
        clean = clean + [int(p) if p.isdigit() else p for p in str(ctx["key"]).split(".")]
        key = _dotted(clean)
        text = str(ctx["message"])
    elif kind == "extra_forbidden":
        _, parent = _walk(loc[:-1])
        fields = list(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
        hint = did_you_mean(clean[-1], fields)
        if not hint and fields:
            hint = f" (valid keys: {', '.join(fields)})"
        text = f"unknown key{hint}"
    elif kind == "missing":
        text = "required key is missing"
    elif kind == "union_tag_invalid":
        tags = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        disc = str(ctx.get("discriminator", "")).strip("'")
        key = _dotted(clean + [disc])
        clean = clean + [disc]
        what = clean[-2] if disc == "name" and len(clean) > 1 else disc
        text = f"unknown {what} {ctx.get('tag')!r}{did_you_mean(ctx.get('tag'), tags)}; expected one of: {', '.join(tags)}"
    elif kind == "union_tag_not_found":
        disc = str(ctx.get("discriminator", "")).strip("'")
        key = _dotted(clean + [disc])
        clean = clean + [disc]
        _, union_holder = _walk(loc[:-1]) if len(loc) > 1 else (None, Config)
        text = "required key is missing"
        field = union_holder.model_fields.get(loc[-1]) if isinstance(union_holder, type) else None
        if field is not None and field.discriminator:
            text += f"; expected one of: {', '.join(union_variants(field.annotation, field.discriminator))}"
    elif kind == "literal_error":
        expected = [e.strip().strip("'") for e in str(ctx.get("expected", "")).replace(" or ", ", ").split(",")]
        text = f"expected one of: {', '.join(expected)}; got {_show(received)}{did_you_mean(received, expected)}"
    elif kind in ("greater_than_equal", "greater_than", "less_than", "less_than_equal"):
        sign = {"greater_than_equal": "≥", "greater_than": ">", "less_than": "<", "less_than_equal": "≤"}[kind]
        bound = next(iter(ctx.values()))
        text = f"must be {sign} {bound}, got {_show(received)}"
    elif kind == "model_type":
        text = f"expected a section (a mapping of keys), got {_show(received)}"
    elif kind in ("path_not_file", "path_not_directory"):
        what = "file" if kind == "path_not_file" else "directory"
        rel = "" if os.path.isabs(str(received)) else f" (relative paths are read from the working directory {os.getcwd()})"
        if _is_symlink_loop(str(received)):
            text = f"{received} is a symlink loop (following its links never reaches a {what}){rel}"
        elif kind == "path_not_directory" and os.path.isfile(str(received)):
            text = f"expected a folder, but {received} is a file{rel}"
        elif kind == "path_not_file" and os.path.isdir(str(received)):
            text = f"expected a file, but {received} is a folder{rel}"
        else:
            text = f"{what} not found: {received}{rel}"
    elif kind in _SIMPLE:
        text = f"{_SIMPLE[kind]}, got {_show(received)}"
    elif kind == "string_pattern_mismatch":
        text = f"may hold only letters, digits, '_', '.' and '-', got {_show(received)}"
    else:
        msg = err["msg"]
        msg = msg.replace("Input should be", "expected").replace("Value error, ", "")
        text = f"{msg[0].lower()}{msg[1:]}"
        if not (kind == "value_error" and isinstance(received, dict)):  # a section's own rule names its keys
            text += f", got {_show(received)}"

    key_path = tuple(clean)
    if key_path in overridden or any(key_path[: len(o)] == o for o in overridden):
        return -1.0, f"{source}: --set {key}: {text}"
    line = None
    probe = key_path
    while probe and line is None:
        line = lines.get(probe)
        probe = probe[:-1]
    where = f"{source}:{line}" if line else source
    return float(line or 1e9), f"{where}: {key}: {text}"


_SIMPLE = {
    "int_parsing": "expected an integer",
    "int_from_float": "expected a whole number",
    "int_type": "expected an integer",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list such as [16, 32]",
    "too_short": "expected at least one item",
    "dict_type": "expected a section (a mapping of keys)",
}


def dump_config(cfg: Config) -> str:
    """The fully resolved config as YAML (defaults filled in, keys in schema order)."""
    data = cfg.model_dump(mode="json", by_alias=True)
    if data.get("search") is None:
        data.pop("search", None)  # only tune configs have one
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
