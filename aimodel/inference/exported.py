"""Backends for exported models: ``.tflite`` (LiteRT), ``.onnx`` (onnxruntime) and SavedModel folders.

Each export has a ``<file>.json`` beside it (written by ``aimodel export``): the
run's ``meta.json`` (class names, input spec, test-split fingerprint) plus an
``export`` section naming the run, the ``.keras`` file it came from (with its
sha256, so a later ``train --resume`` that rewrites it makes the export *stale*),
the runtime's inputs and, for text models exported with token ids in, the tokenizer. So evaluate and predict prepare
inputs exactly as for ``.keras``, wherever the file is copied with its ``.json``.

Loading ``.tflite`` and ``.onnx`` files never imports TensorFlow: a cold
``aimodel predict --model model.tflite`` starts in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional

from aimodel.data.spec import InputSpec
from aimodel.errors import CheckpointError
from aimodel.hardware import usable_cores
from aimodel.inference.checkpoint import BACKENDS, _match_rank, class_probabilities, model_outputs
from aimodel.inference.tokenize import Tokenizer

#: pip package that provides each optional runtime (all in the ``export`` extra)
RUNTIME_PACKAGES = {"ai_edge_litert": "ai-edge-litert", "onnxruntime": "onnxruntime", "tf2onnx": "tf2onnx",
                    "onnx": "onnx"}


def sidecar_path(path: str | Path) -> Path:
    """The metadata file of an export: ``model_int8.tflite`` -> ``model_int8.tflite.json``.

    A SavedModel's version folder (``model_saved_model/1``) has its base folder's ``model_saved_model.json``.
    """
    path = Path(path)
    if path.name.isdigit() and (path / "saved_model.pb").is_file():
        path = path.parent
    return path.with_name(path.name + ".json")


def saved_model_version(path: Path) -> Optional[Path]:
    """The folder holding ``saved_model.pb``: ``path`` itself, or its highest numbered version folder
    (TF Serving's layout, ``<base>/1/saved_model.pb``); None if neither."""
    if (path / "saved_model.pb").is_file():
        return path
    if not path.is_dir():
        return None
    versions = [p for p in path.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()]
    return max(versions, key=lambda p: int(p.name)) if versions else None


def read_sidecar(path: str | Path) -> Optional[dict]:
    """The export's metadata, or None when it has no ``.json`` beside it."""
    side = sidecar_path(path)
    if not side.is_file():
        return None
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{side}: unreadable export metadata ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("input"), dict):
        raise CheckpointError(f"{side}: not aimodel export metadata (no 'input' section)")
    try:
        InputSpec.from_json(data["input"])
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{side}: damaged description of the model's input ({exc}); it is written by "
                              "aimodel export and should not be edited") from None
    return data


def source_record(model_path: Path) -> dict:
    """What an export's ``.json`` records about the ``.keras`` file it was made from (``export.source*``)."""
    st = Path(model_path).stat()
    return {"source": Path(model_path).name, "source_sha256": file_sha256(model_path),
            "source_bytes": st.st_size, "source_mtime_ns": st.st_mtime_ns}


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, as hex."""
    st = Path(path).stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:  # size and mtime key the cache: a rewrite is rehashed
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stale_reason(export_path: str | Path, meta: dict, run_dir: Optional[Path]) -> Optional[str]:
    """One line when the ``.keras`` file an export was made from has changed since, else None.

    None too when that cannot be told: no run directory (the export was copied away), an export
    written before aimodel recorded the hash, or the source file is gone.
    """
    export = meta.get("export") or {}
    recorded = export.get("source_sha256")
    if run_dir is None or not isinstance(recorded, str) or not isinstance(export.get("source"), str):
        return None
    source = Path(run_dir) / export["source"]
    try:
        st = source.stat()
        if st.st_size == export.get("source_bytes") and st.st_mtime_ns == export.get("source_mtime_ns"):
            return None  # untouched since the export: no need to read it
        if file_sha256(source) == recorded:
            return None
    except OSError:
        return None
    again = run_dir if source.name == "best.keras" else source
    return (f"{export_path} is stale: {source} has changed since it was exported (sha256 {recorded[:12]}… then, "
            f"{file_sha256(source)[:12]}… now); re-export with `aimodel export {again} --force`")


def stale_exports(run_dir: Path) -> list[str]:
    """:func:`stale_reason`'s line for every export in ``run_dir/exports`` whose source has changed."""
    folder = Path(run_dir) / "exports"
    lines = []
    for side in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        export_path = side.with_name(side.name[: -len(".json")])
        if not export_path.exists():
            continue  # report.json, or a .json whose export was deleted
        try:
            meta = read_sidecar(export_path) or {}
        except CheckpointError:
            continue
        line = stale_reason(export_path, meta, Path(run_dir))
        if line:
            lines.append(line)
    return lines


def require(module: str, what: str):
    """Import an optional runtime or converter, or say in one line which package to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        package = RUNTIME_PACKAGES.get(module.split(".")[0], module)
        raise CheckpointError(f"{what} needs the {package} package: pip install '{package}' "
                              "(or pip install 'aimodel[export]' for every export format)") from None


class Captured:
    """What was printed to file descriptors 1 and 2 while :func:`captured` was active."""

    text = ""


@contextlib.contextmanager
def captured() -> Iterator[Captured]:
    """Send file descriptors 1 and 2 (C++ logs, Python warnings) to a temporary file; keep the text.

    TensorFlow's converters and LiteRT print from C++, past Python's logging. With debug
    logging on (``--debug``), nothing is captured: their output is shown as it comes.
    """
    box = Captured()
    if logging.getLogger("aimodel").isEnabledFor(logging.DEBUG):
        yield box
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield box
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            box.text = sink.read().decode("utf-8", "replace")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def dtype_name(dtype: Any) -> str:
    """``float32``, ``int64``, ``string``, ... for numpy, onnxruntime and TensorFlow dtypes."""
    name = getattr(dtype, "name", None) or getattr(dtype, "__name__", None) or str(dtype)
    name = name.replace("tensor(", "").rstrip(")")
    if name in ("float", "float_"):
        return "float32"
    if name in ("double",):
        return "float64"
    return "string" if any(s in name for s in ("str", "bytes", "object")) else name


class ExportedBackend:
    """What every exported format shares: the ``.json`` beside it, the tokenizer and feeding inputs.

    A subclass loads its runtime in ``_load`` (setting ``self.inputs``: one
    ``{"name", "key", "dtype", "shape"}`` per model input, ``key`` being the runtime's
    name for it) and runs one feed in ``_run``.
    """

    description = "exported model"
    needs_tensorflow = False

    def __init__(self, path: Path):
        self.path = Path(path)
        self.meta = read_sidecar(self.path) or {}
        export = self.meta.get("export") or {}
        self.tokenizer = Tokenizer.from_json(export["tokenizer"]) if export.get("tokenizer") else None
        self.inputs: list[dict] = []
        self._load()
        recorded = export.get("inputs")
        if recorded:
            keys = {i["key"] for i in self.inputs}
            missing = [i["key"] for i in recorded if i["key"] not in keys]
            if missing:
                raise CheckpointError(f"{self.path}: the model has no input(s) {', '.join(missing)} that its "
                                      f"{sidecar_path(self.path).name} describes; is the .json from another export?")
            runtime = {i["key"]: i for i in self.inputs}
            self.inputs = [dict(i, shape=runtime[i["key"]]["shape"], dtype=runtime[i["key"]]["dtype"])
                           for i in recorded]
        if (self.meta.get("input") or {}).get("kind") == "text" and self.tokenizer is None \
                and self.inputs and self.inputs[0]["dtype"] != "string":
            raise CheckpointError(f"{self.path}: this text model takes token ids; its tokenizer is in "
                                  f"{sidecar_path(self.path).name}, which is missing")

    @classmethod
    def accepts(cls, path: Path) -> bool:
        raise NotImplementedError

    @classmethod
    def locate(cls, path: Path) -> Optional[tuple[dict, Optional[Path]]]:
        """``(meta, run directory or None)`` from the ``.json`` beside the export, or None without one."""
        meta = read_sidecar(path)
        if meta is None:
            return None
        run = (meta.get("export") or {}).get("run")
        run_dir = (Path(path).parent / run).resolve() if isinstance(run, str) else None
        if run_dir is not None and not (run_dir / "meta.json").is_file():
            run_dir = None  # the export was copied away from its run: the .json alone still predicts
        return meta, run_dir

    @classmethod
    def staleness(cls, path: Path, meta: dict, run_dir: Optional[Path]) -> Optional[str]:
        """One line when the run's model changed since this export was made (see :func:`stale_reason`)."""
        return stale_reason(path, meta, run_dir)

    def _load(self) -> None:
        raise NotImplementedError

    def _run(self, feed: dict) -> Any:
        raise NotImplementedError

    def input_dtypes(self) -> dict[str, str]:
        if self.tokenizer is not None:
            return {"text": "string"}
        return {i["name"]: i["dtype"] for i in self.inputs}

    def input_shapes(self) -> dict[str, tuple]:
        return {i["name"]: tuple(i["shape"]) for i in self.inputs}

    def predict_proba(self, batch):
        return class_probabilities(self.predict_outputs(batch))

    def predict_outputs(self, batch):
        return model_outputs(self._run(self.feed(batch)))

    def feed(self, batch) -> dict:
        """The runtime's inputs for one prepared batch (see :meth:`ModelBackend.predict_proba`)."""
        return make_feed(self.inputs, batch, self.tokenizer, str(self.path))


def make_feed(inputs: list[dict], batch, tokenizer: Optional[Tokenizer], where: str) -> dict:
    """Runtime input name -> array, matched in rank and dtype to each input (shared with export)."""
    import numpy as np

    if tokenizer is not None:
        batch = tokenizer.ids(np.asarray(batch, dtype=object).reshape(-1))
    if isinstance(batch, dict):
        by_name = {key.replace("/", "_"): value for key, value in batch.items()}
        by_name.update(batch)
        missing = [i["name"] for i in inputs if i["name"] not in by_name]
        if missing:
            raise CheckpointError(f"{where}: the model's input(s) {', '.join(missing)} were not provided")
        values = {i["key"]: by_name[i["name"]] for i in inputs}
    else:
        if len(inputs) != 1:
            raise CheckpointError(f"{where}: the model takes {len(inputs)} named inputs "
                                  f"({', '.join(i['name'] for i in inputs)})")
        values = {inputs[0]["key"]: batch}
    feed = {}
    for spec in inputs:
        arr = _match_rank(np.asarray(values[spec["key"]]), tuple(spec["shape"]))
        if spec["dtype"] == "string":
            arr = arr.astype(object)
        else:
            arr = arr.astype(spec["dtype"], copy=False)
        feed[spec["key"]] = arr
    return feed


@BACKENDS.register("tflite")
class TFLiteBackend(ExportedBackend):
    """A ``.tflite`` file, run with LiteRT (``ai-edge-litert``), not the deprecated ``tf.lite.Interpreter``."""

    description = ".tflite"

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return path.is_file() and path.suffix == ".tflite"

    def _load(self) -> None:
        interpreter_module = require("ai_edge_litert.interpreter", "running .tflite files")
        try:
            threads = usable_cores()
            with captured():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate" line
                self.interpreter = interpreter_module.Interpreter(model_path=str(self.path), num_threads=threads)
                self.interpreter.allocate_tensors()  # applies the delegate (and prints) now
            signatures = self.interpreter.get_signature_list()
            if not signatures:
                raise ValueError("no signature (was it written by aimodel export?)")
            self.runner = self.interpreter.get_signature_runner(next(iter(signatures)))
            details = self.runner.get_input_details()
        except CheckpointError:
            raise
        except Exception as exc:
            raise CheckpointError(f"{self.path}: not a usable .tflite model ({_first_line(exc)})") from None
        self.inputs = [{"name": key, "key": key, "dtype": dtype_name(d["dtype"]),
                        "shape": [None if s < 0 else int(s) for s in d["shape_signature"]]}
                       for key, d in details.items()]
        # A model converted with a fixed batch of one (recurrent layers) is run one sample at a time.
        self.fixed_batch = all(i["shape"] and i["shape"][0] == 1 for i in self.inputs)

    def _run(self, feed: dict):
        import numpy as np

        n = len(next(iter(feed.values())))
        if self.fixed_batch and n != 1:
            return np.concatenate([self._run({k: v[i : i + 1] for k, v in feed.items()}) for i in range(n)])
        out = self.runner(**feed)
        return next(iter(out.values()))


@BACKENDS.register("onnx")
class OnnxBackend(ExportedBackend):
    """An ``.onnx`` file, run with onnxruntime on the CPU."""

    description = ".onnx"

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return path.is_file() and path.suffix == ".onnx"

    def _load(self) -> None:
        ort = require("onnxruntime", "running .onnx files")
        try:
            options = ort.SessionOptions()
            options.log_severity_level = 3  # errors only: no warnings about unused initializers
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise CheckpointError(f"{self.path}: not a usable .onnx model ({_first_line(exc)})") from None
        self.inputs = [{"name": i.name, "key": i.name, "dtype": dtype_name(i.type),
                        "shape": [d if isinstance(d, int) else None for d in i.shape]}
                       for i in self.session.get_inputs()]

    def _run(self, feed: dict):
        return self.session.run(None, feed)[0]


@BACKENDS.register("saved_model")
class SavedModelBackend(ExportedBackend):
    """A TensorFlow SavedModel folder written by ``aimodel export`` (its ``serve`` signature)."""

    description = "SavedModel folder"
    needs_tensorflow = True

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return path.is_dir() and saved_model_version(path) is not None

    def _load(self) -> None:
        import tensorflow as tf

        try:
            self.loaded = tf.saved_model.load(str(saved_model_version(self.path) or self.path))
            self.function = self.loaded.signatures["serve"]
        except Exception as exc:
            raise CheckpointError(f"{self.path}: not a usable SavedModel ({_first_line(exc)})") from None
        _, specs = self.function.structured_input_signature
        self.inputs = [{"name": key, "key": key, "dtype": dtype_name(spec.dtype), "shape": list(spec.shape)}
                       for key, spec in specs.items()]

    def _run(self, feed: dict):
        import tensorflow as tf

        out = self.function(**{k: tf.constant(v) for k, v in feed.items()})
        return next(iter(out.values())).numpy()
