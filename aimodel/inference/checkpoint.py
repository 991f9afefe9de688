"""Find and load a trained model: one interface for every kind of checkpoint.

A checkpoint is a run directory, a ``.keras`` file, or (once exports exist) a
file some other backend reads. Whatever its format, evaluate and predict only
talk to a :class:`ModelBackend`: ``predict_outputs(batch)`` returns the model's
outputs ``(N, n_outputs)`` as they are (values for regression, label
probabilities for multilabel) and ``predict_proba(batch)`` class probabilities
``(N, n_classes)`` (a one-unit sigmoid made two columns). A new format (``.tflite``,
SavedModel) is a new class registered in :data:`BACKENDS`, not an if-chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Protocol

from aimodel.data.spec import InputSpec
from aimodel.errors import CheckpointError
from aimodel.registry import Registry

if TYPE_CHECKING:
    import numpy as np

RUN_MODELS = ("best.keras", "last.keras")


class ModelBackend(Protocol):
    """What evaluate and predict need from a loaded model."""

    path: Path

    def predict_proba(self, batch: Any) -> "np.ndarray":
        """Class probabilities ``(N, n_classes)`` for one batch of prepared inputs.

        ``batch`` is what :mod:`aimodel.inference.prepare` stacks for the model's
        data kind: float32 pixels ``(N, H, W, C)``, strings ``(N,)``, a dict of
        column arrays, or float32 sequences ``(N, T, F)``.
        """

    def predict_outputs(self, batch: Any) -> "np.ndarray":
        """The model's outputs ``(N, n_outputs)`` as float32, as they are: what regression and multilabel read."""

    def input_dtypes(self) -> dict[str, str]:
        """Input name -> dtype name (``"float32"``, ``"string"``), for preparing table cells."""


#: format name -> backend class with ``accepts(path) -> bool`` and ``__init__(path)``
BACKENDS: Registry[type] = Registry("model format")


@dataclass
class Checkpoint:
    model_path: Path
    run_dir: Optional[Path]
    meta: dict
    format: str = "keras"
    #: for an export: one line when its run's model changed since it was exported (else None)
    stale: Optional[str] = None

    @property
    def spec(self) -> Optional[InputSpec]:
        if "input" not in self.meta:
            return None
        try:
            spec = InputSpec.from_json(self.meta["input"])
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"{self.run_dir / 'meta.json'}: damaged description of the model's input "
                                  f"({exc}); it is written by training and should not be edited") from None
        if "label_column" not in self.meta["input"] and spec.kind in ("text", "tabular"):
            # Runs trained before meta.json recorded the CSV columns: read them from the saved config.
            spec.text_column = spec.text_column or _run_dataset_key(self.run_dir, "text_column")
            spec.label_column = _run_dataset_key(self.run_dir, "label")
        return spec


def latest_run(runs_root: str | Path = "runs") -> Path:
    """The most recently modified run directory under ``runs_root`` that has a model."""
    root = Path(runs_root)
    candidates = [p.parent for p in root.glob("*/*/best.keras")] if root.is_dir() else []
    if not candidates:
        raise CheckpointError(
            f"no trained model found under {root}/; train one with `aimodel train CONFIG` "
            "or pass --model RUN_DIR_OR_FILE"
        )
    return max(candidates, key=lambda p: (p / "best.keras").stat().st_mtime)


def _format_of(path: Path) -> Optional[str]:
    return next((name for name in BACKENDS if BACKENDS.get(name).accepts(path)), None)


def resolve_checkpoint(path: str | Path | None, runs_root: str | Path = "runs") -> Checkpoint:
    """Accept a run directory, a model file any backend reads (in a run directory or not) or None (latest run)."""
    p = Path(path) if path is not None else latest_run(runs_root)
    fmt = _format_of(p) if p.exists() else None
    if p.is_dir() and fmt is None:
        run_dir = p
        model_path = next((run_dir / n for n in RUN_MODELS if (run_dir / n).is_file()), None)
        if model_path is None:
            raise CheckpointError(
                f"{p}: no best.keras or last.keras in this directory; is it a run directory "
                "(runs/<name>/<n>) whose training completed at least one epoch?"
            )
        fmt = "keras"
    elif fmt is not None:
        model_path = p
        # An export describes itself (the .json beside it: meta and its run); else it may sit in its run.
        locate = getattr(BACKENDS.get(fmt), "locate", None)
        located = locate(p) if locate is not None else None
        if located is not None:
            staleness = getattr(BACKENDS.get(fmt), "staleness", None)
            stale = staleness(p, located[0], located[1]) if staleness is not None else None
            return Checkpoint(model_path=model_path, run_dir=located[1], meta=located[0], format=fmt, stale=stale)
        run_dir = next((d for d in (p.parent, p.parent.parent) if (d / "meta.json").is_file()), None)
    elif p.is_file():
        raise CheckpointError(f"{p}: expected a run directory or a model file ({_known_formats()})")
    else:
        raise CheckpointError(f"{p}: no such run directory or model file")
    meta = read_meta(run_dir) if run_dir is not None and (run_dir / "meta.json").is_file() else {}
    return Checkpoint(model_path=model_path, run_dir=run_dir, meta=meta, format=fmt)


def read_meta(run_dir: Path, resuming: bool = False) -> dict:
    """The JSON object in ``run_dir/meta.json``, the run's record of its data and input.

    Raises:
        CheckpointError: the file is unreadable or not a JSON object; with ``resuming`` the message
            says the run cannot be resumed.
    """
    path = run_dir / "meta.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        if resuming:
            raise CheckpointError(f"{path}: unreadable ({type(exc).__name__}: {str(exc)[:200]}); the run's record "
                                  "of its data is damaged, so it cannot be resumed") from None
        raise CheckpointError(f"{path}: unreadable ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: not a JSON object; the run's record of its data is damaged" if resuming
                              else f"{path}: damaged (not a JSON object); it is written by training")
    return meta


def needs_tensorflow(path: str | Path | None) -> bool:
    """Whether loading the model at ``path`` (None: the latest run) imports TensorFlow.

    Lets the CLI skip TensorFlow's start-up for ``.tflite`` and ``.onnx`` files.
    """
    if path is None:
        return True
    p = Path(path)
    fmt = _format_of(p) if p.exists() else None
    return fmt is None or bool(getattr(BACKENDS.get(fmt), "needs_tensorflow", True))


def _run_dataset_key(run_dir: Optional[Path], key: str) -> Optional[str]:
    """A string key of the run's saved ``dataset`` section, or None."""
    import yaml

    config = run_dir / "config.yaml" if run_dir else None
    if config is None or not config.is_file():
        return None
    try:
        dataset = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("dataset") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    value = dataset.get(key) if isinstance(dataset, dict) else None
    return value if isinstance(value, str) else None


def _known_formats() -> str:
    return ", ".join(getattr(BACKENDS.get(n), "description", n) for n in BACKENDS)


def load_backend(ckpt: Checkpoint) -> ModelBackend:
    """Load the checkpoint's model behind the :class:`ModelBackend` interface."""
    return BACKENDS.get(ckpt.format)(ckpt.model_path)


def model_outputs(out) -> "np.ndarray":
    """A model's output as float32 ``(N, n_outputs)`` (``(N,)`` becomes one column), values untouched.

    Raises:
        CheckpointError: the output is not one row per input.
    """
    import numpy as np

    values = np.asarray(out, dtype=np.float32)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise CheckpointError(f"expected the model to output (batch, outputs), got shape {values.shape}")
    return values


def class_probabilities(out) -> "np.ndarray":
    """Bring a classifier's output to ``(N, n_classes)`` float probabilities.

    A two-class model may end in one sigmoid unit, ``(N, 1)`` = P(class 1);
    it becomes ``[1 - p, p]`` so everything downstream sees one layout.
    """
    import numpy as np

    probs = model_outputs(out)
    if probs.shape[1] == 1:
        probs = np.concatenate([1.0 - probs, probs], axis=1)
    return probs


def load_model(path: Path, compile: bool = False):
    """Load a ``.keras`` file with Keras safe mode on (no arbitrary code from the file).

    ``compile``: also restore the optimizer (and its variables), as training needs.
    """
    import keras

    import aimodel.models.layers  # noqa: F401  (registers aimodel's custom layers with Keras)

    _check_keras_file(Path(path))
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: cannot load model ({type(exc).__name__}: {first[:300]})") from None


def _check_keras_file(path: Path) -> None:
    """A one-line reason when ``path`` cannot be a .keras file (Keras itself says "File not found")."""
    import zipfile

    try:
        size = path.stat().st_size
        is_zip = zipfile.is_zipfile(path)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot load model ({exc.strerror or exc})") from None
    if size == 0:
        raise CheckpointError(f"{path}: cannot load model: empty file (0 bytes); was it cut short while being copied?")
    if not is_zip:
        raise CheckpointError(f"{path}: cannot load model: not a Keras model file ({size:,} bytes that are not a .keras zip archive)")


@BACKENDS.register("keras")
class KerasBackend:
    """A ``.keras`` file, loaded with safe mode on.

    Calls the model with ``predict_on_batch``: one graph call per batch, without
    the per-call set-up of ``model.predict`` (about 50 ms, which dominates when
    a loop calls it once per image).
    """

    description = ".keras"

    @staticmethod
    def accepts(path: Path) -> bool:
        return path.is_file() and path.suffix == ".keras"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.model = load_model(self.path)
        self._inputs = list(self.model.inputs)

    def input_dtypes(self) -> dict[str, str]:
        return {_input_name(t): _dtype_name(t.dtype) for t in self._inputs}

    def input_shapes(self) -> dict[str, tuple]:
        return {_input_name(t): tuple(t.shape) for t in self._inputs}

    def predict_proba(self, batch):
        return class_probabilities(self.predict_outputs(batch))

    def predict_outputs(self, batch):
        return model_outputs(self.model.predict_on_batch(self._fit(batch)))

    def _fit(self, batch):
        """Match the batch to the model's inputs: ranks ((N,) strings vs (N, 1)) and dict keys."""
        import numpy as np

        shapes = self.input_shapes()
        if isinstance(batch, dict):
            if len(shapes) == 1 and next(iter(shapes)) not in batch:
                # One feature-matrix input: stack the columns in their given order.
                stacked = np.stack([np.asarray(v, np.float32) for v in batch.values()], axis=1)
                return _match_rank(stacked, next(iter(shapes.values())))
            # Keys stay the column names (the model's dict keys); Keras input names replace "/".
            by_input = {key.replace("/", "_"): key for key in batch}
            missing = [name for name in shapes if name not in by_input]
            if missing:
                raise CheckpointError(f"{self.path}: the model's input(s) {', '.join(missing)} were not provided")
            return {by_input[name]: _match_rank(np.asarray(batch[by_input[name]]), shape)
                    for name, shape in shapes.items()}
        if len(shapes) != 1:
            raise CheckpointError(f"{self.path}: the model takes {len(shapes)} named inputs ({', '.join(shapes)})")
        return _match_rank(np.asarray(batch), next(iter(shapes.values())))


def _input_name(tensor) -> str:
    name = getattr(tensor, "name", "") or ""
    return name.split(":")[0]


def _dtype_name(dtype) -> str:
    name = getattr(dtype, "name", None) or str(dtype)
    return "string" if "str" in name else name


def _match_rank(arr, shape: tuple):
    """``(N,)`` -> ``(N, 1)`` when the model input is ``(None, 1)``, and the reverse."""
    want = len(shape)
    if arr.ndim == want - 1:
        return arr[..., None]
    if arr.ndim == want + 1 and arr.shape[-1] == 1:
        return arr[..., 0]
    return arr
