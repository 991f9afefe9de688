"""The inference-only graph that every export is made from.

Every format is written from :func:`write_saved_model`'s SavedModel or from
``model.export(format="litert")``, and both trace ``model.__call__`` with
``training=False``: augmentation layers pass images through unchanged, dropout is
off and batch normalization uses its moving statistics. (Keras'
``model.export(format="tf_saved_model")`` traces without ``training=False``, so
its ``serve`` endpoint would augment at inference and its random ops would block
TFLite and ONNX.)

Text models: TFLite and ONNX runtimes have no kernels for ``TextVectorization``'s
string ops, so for those formats the graph starts after the layer (token ids
in) and the layer's vocabulary and settings travel in the export's ``.json``,
applied on the host by :class:`aimodel.inference.tokenize.Tokenizer`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from aimodel.errors import ExportError
from aimodel.inference.tokenize import Tokenizer


@dataclass
class InferenceGraph:
    """What a converter needs: the model to trace and a description of its inputs.

    ``inputs`` holds one ``{"name", "key", "dtype", "shape"}`` per input: ``name``
    is the model's (a column name for tables), ``key`` the name the exported file
    gives it (letters, digits and underscores, so every runtime accepts it).
    """

    model: Any
    inputs: list[dict]
    #: "single" (one tensor) or "dict" (a mapping of named inputs, tabular models)
    structure: str = "single"
    tokenizer: Optional[Tokenizer] = None
    notes: list[str] = field(default_factory=list)

    def signature(self, batch: Optional[int] = None) -> list:
        """The ``input_signature`` for tracing: ``[spec]`` or ``[{name: spec}]``, batch dimension ``batch``."""
        import tensorflow as tf

        specs = {i["name"]: tf.TensorSpec([batch, *i["shape"][1:]], tf.dtypes.as_dtype(i["dtype"]), name=i["key"])
                 for i in self.inputs}
        if self.structure == "dict":
            return [specs]
        return [next(iter(specs.values()))]

    def endpoint(self):
        """``model.__call__`` with ``training=False``: what every export serves."""
        return functools.partial(self.model.__call__, training=False)


def _key(name: str, taken: set[str]) -> str:
    key = re.sub(r"[^A-Za-z0-9_]", "_", name) or "input"
    if not key[0].isalpha():
        key = f"input_{key}"
    base, n = key, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    taken.add(key)
    return key


def _describe(named: list[tuple[str, Any]]) -> list[dict]:
    taken: set[str] = set()
    out = []
    for name, tensor in named:
        dtype = str(getattr(tensor.dtype, "name", tensor.dtype))
        out.append({"name": name, "key": _key(name, taken), "dtype": "string" if "str" in dtype else dtype,
                    "shape": [None if d is None else int(d) for d in tensor.shape]})
    return out


#: Keras dtype policies that compute in 16 bits over float32 variables (``training.precision``).
MIXED_POLICIES = ("mixed_bfloat16", "mixed_float16")


def float32_file(model_path: Path, dest: Path) -> bool:
    """Write ``model_path`` to ``dest`` with every mixed-precision layer set to compute in float32.

    A model trained with ``training.precision: mixed_bfloat16`` (or ``auto``, which picks it on CPUs
    with bf16 instructions) keeps float32 variables but casts to 16 bits inside each layer; tf2onnx
    writes such a graph with bfloat16 and float16 tensors side by side, which ONNX Runtime refuses,
    and CPUs without bf16 instructions emulate it slowly. Exports are therefore made from the same
    weights computing in float32: the archive's ``config.json`` is rewritten (policies only) and
    the weights file copied byte for byte. Returns False (``dest`` not written) when no layer
    uses a mixed policy.
    """
    import json
    import zipfile

    with zipfile.ZipFile(model_path) as src:
        config = json.loads(src.read("config.json"))
        changed = _float32_policies(config)
        if not changed:
            return False
        with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as out:
            for info in src.infolist():
                data = json.dumps(config).encode() if info.filename == "config.json" else src.read(info)
                out.writestr(info, data)
    return True


def _float32_policies(node) -> int:
    """Replace mixed dtype policies in a Keras config tree in place; how many were replaced."""
    count = 0
    if isinstance(node, dict):
        if node.get("class_name") == "DTypePolicy" and node.get("config", {}).get("name") in MIXED_POLICIES:
            node["config"]["name"] = "float32"
            return 1
        for key, value in node.items():
            if key == "dtype" and value in MIXED_POLICIES:
                node[key] = "float32"
                count += 1
            else:
                count += _float32_policies(value)
    elif isinstance(node, list):
        count += sum(_float32_policies(v) for v in node)
    return count


def full_graph(model) -> InferenceGraph:
    """The model as trained, raw inputs in (strings for text models)."""
    structure = model.input
    if isinstance(structure, dict):
        return InferenceGraph(model, _describe(list(structure.items())), structure="dict")
    if isinstance(structure, (list, tuple)):
        if len(structure) != 1:
            raise ExportError(f"models with {len(structure)} positional inputs are not supported by export")
        structure = structure[0]
    name = getattr(structure, "name", None) or "input"
    return InferenceGraph(model, _describe([(name.split(":")[0], structure)]))


def _vectorizer(model):
    """The TextVectorization layer that reads the model's raw input, or None."""
    from keras import layers

    found = [layer for layer in model.layers if isinstance(layer, layers.TextVectorization)]
    return found[0] if len(found) == 1 else None


def token_graph_refusal(model) -> Optional[str]:
    """Why the text model cannot take token ids (so TFLite/ONNX are out), or None when it can."""
    layer = _vectorizer(model)
    if layer is None:
        return "it has no single TextVectorization layer to split off"
    inputs = model.inputs
    if len(inputs) != 1:
        return "it has more than one input"
    why = Tokenizer.unsupported(layer.get_config())
    if why:
        return f"its TextVectorization layer uses {why}"
    return None


def token_graph(model) -> InferenceGraph:
    """The text model after its TextVectorization layer: int64 token ids ``(N, sequence_length)`` in."""
    import keras

    why = token_graph_refusal(model)
    if why:
        raise ExportError(f"this text model cannot be exported with token ids in: {why}")
    layer = _vectorizer(model)
    config = layer.get_config()
    vocabulary = [str(t) for t in layer.get_vocabulary()]
    tokenizer = Tokenizer(vocabulary, int(config["output_sequence_length"]), config.get("standardize"))
    try:
        sub = keras.Model(layer.output, model.output, name=f"{model.name}_from_token_ids")
    except Exception as exc:
        raise ExportError(f"cannot split the text model after its TextVectorization layer ({exc})") from None
    tensor = sub.inputs[0]
    graph = InferenceGraph(sub, _describe([("tokens", tensor)]), tokenizer=tokenizer)
    graph.notes.append(f"token ids in; the {len(vocabulary)}-entry vocabulary is applied on the host")
    return graph


def recurrent_layers(model) -> list[str]:
    """Names of the model's recurrent layers (LSTM, GRU, SimpleRNN, also inside Bidirectional)."""
    from keras import layers

    from aimodel.compat import flatten_layers

    found = []
    for layer in flatten_layers(model):
        if isinstance(layer, (layers.RNN, layers.Bidirectional)) and not any(
                found_name == layer.name for found_name in found):
            found.append(layer.name)
    return found


def write_saved_model(graph: InferenceGraph, path: Path, batch: Optional[int] = None) -> None:
    """Write ``graph`` as a SavedModel whose ``serve`` signature runs the model with ``training=False``."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(graph.model)
    archive.add_endpoint("serve", graph.endpoint(), input_signature=graph.signature(batch))
    archive.write_out(str(path), verbose=False)
