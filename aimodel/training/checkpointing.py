"""Resumable run state: one checkpoint per completed epoch, committed by ``state.json``.

Layout of a run directory (only the files this module manages)::

    checkpoints/epoch-0007.keras   model + optimizer after epoch 7 (the last one)
    checkpoints/epoch-0005.keras   the best epoch so far, when it is not the last
    state.json                     the commit record: which file is last/best, counters
    last.keras, best.keras         hard links (or copies) of the two files above

An epoch is saved in this order: the new checkpoint file (temporary file,
fsync, rename), the metrics row, then ``state.json`` (same atomic write), and
only then are ``last.keras``/``best.keras`` re-pointed and files that
``state.json`` no longer names deleted. A ``kill -9`` at any point therefore
leaves a ``state.json`` naming files that are complete, and :func:`publish`
(run again on resume) repairs the links and removes leftovers.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from aimodel.compat import flatten_layers
from aimodel.errors import CheckpointError
from aimodel.fileio import fsync_dir, atomic_save_model, atomic_write_json

STATE_FILE = "state.json"
CHECKPOINT_DIR = "checkpoints"
FORMAT = 1


@dataclass
class RunState:
    """Everything besides the model and optimizer that a resumed run needs."""

    epoch: int  # completed epochs
    global_step: int  # optimizer steps taken in total
    steps_per_epoch: int
    checkpoint: str  # the last epoch's model + optimizer, relative to the run directory
    monitor: str
    mode: str  # "min" or "max"
    best_value: Optional[float] = None
    best_epoch: Optional[int] = None
    best_checkpoint: Optional[str] = None
    #: early stopping: {"monitor", "best", "wait", "stopped_epoch"}
    early_stopping: dict = field(default_factory=dict)
    #: reduce-on-plateau: {"best", "wait", "cooldown", "learning_rate"}
    plateau: dict = field(default_factory=dict)
    learning_rate: Optional[float] = None
    seed: int = 0
    wall_seconds: float = 0.0  # training time up to this commit, over all sessions
    format: int = FORMAT

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RunState":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def checkpoint_name(epoch: int) -> str:
    return f"{CHECKPOINT_DIR}/epoch-{epoch:04d}.keras"


def write_checkpoint(run_dir: Path, model, epoch: int, verify: bool = False) -> str:
    """Save model + optimizer after ``epoch`` atomically; returns its relative path.

    With ``verify``, the written file must load back (:func:`verify_model_file`)
    before it replaces anything; without it, it must at least be a complete
    archive (:func:`check_archive`, a few milliseconds). A file that fails is
    deleted and CheckpointError is raised, so ``state.json``, ``last.keras``
    and ``best.keras`` keep naming the previous good checkpoint.
    """
    name = checkpoint_name(epoch)
    (run_dir / CHECKPOINT_DIR).mkdir(exist_ok=True)

    def check(tmp: Path) -> None:
        try:
            if verify:
                verify_model_file(tmp, model)
            else:
                check_archive(tmp)
        except CheckpointError as exc:
            raise CheckpointError(f"{run_dir / name}: the checkpoint of epoch {epoch} was not kept: "
                                  f"{str(exc).partition(': ')[2]}") from None

    atomic_save_model(model, run_dir / name, check)
    return name


#: what every ``.keras`` file holds (Keras 3's format)
ARCHIVE_MEMBERS = ("config.json", "model.weights.h5")


def check_archive(path: Path) -> None:
    """Check that ``path`` is a complete ``.keras`` archive: a readable zip whose every member
    matches its checksum, holding the model's config and weights. It does not build the model
    (what :func:`verify_model_file` does); it catches a file that a failing disk, a full quota or
    an interrupted copy left truncated or damaged without an error from ``model.save``.

    Raises:
        CheckpointError: naming the file and what is wrong.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:  # BadZipFile, or a truncated member
        raise CheckpointError(f"{path}: not a complete .keras archive ({type(exc).__name__}: {exc})") from None
    if damaged is not None:
        raise CheckpointError(f"{path}: not a complete .keras archive ({damaged} fails its checksum)")
    missing = [m for m in ARCHIVE_MEMBERS if m not in names]
    if missing:
        raise CheckpointError(f"{path}: not a complete .keras archive (no {', '.join(missing)})")


def verify_model_file(path: Path, model, same_weights: bool = True, expected: Optional["ModelPrint"] = None,
                      compile: bool = False):
    """Check that ``path`` loads with Keras safe mode, as evaluate and predict load it, and holds
    ``model``: weights of the same shapes (and values, with ``same_weights``) and the same
    vocabularies (a vocabulary that reads back differently shifts every token id without any error).

    Args:
        expected: the model's weights and vocabularies as they were when the file was saved
            (:meth:`ModelPrint.take`), when the model has trained on since; default: ``model``'s now.
        compile: load the optimizer too (the checkpoint writer trains on from the loaded copy).

    Returns:
        The loaded model.

    Raises:
        CheckpointError: naming the file and what differs.
    """
    import numpy as np

    from aimodel.inference.checkpoint import load_model

    expected = expected or ModelPrint.take(model)
    loaded = load_model(Path(path), compile=compile)  # CheckpointError "<path>: cannot load model (...)"
    ours, theirs = expected.weights, loaded.get_weights()
    if [a.shape for a in ours] != [b.shape for b in theirs]:
        raise CheckpointError(f"{path}: loads, but its weights have other shapes than the model that was saved")
    if same_weights and not all(np.array_equal(a, b, equal_nan=True) for a, b in zip(ours, theirs)):
        raise CheckpointError(f"{path}: loads, but its weights differ from the model that was saved")
    vocabularies, others = expected.vocabularies, _vocabularies(loaded)
    if len(vocabularies) != len(others):
        raise CheckpointError(f"{path}: loads, but has {len(others)} vocabularies instead of {len(vocabularies)}")
    for (name, vocabulary), (_, other) in zip(vocabularies, others):
        if vocabulary != other:
            raise CheckpointError(f"{path}: loads, but the vocabulary of layer '{name}' reads back differently "
                                  f"({len(other)} tokens instead of {len(vocabulary)})")
    return loaded


@dataclass
class ModelPrint:
    """A model's weights (copies) and vocabularies at one moment, to compare a saved file with."""

    weights: list
    vocabularies: list

    @classmethod
    def take(cls, model) -> "ModelPrint":
        import numpy as np

        return cls([np.array(w, copy=True) for w in model.get_weights()], _vocabularies(model))


def _vocabularies(model) -> list[tuple[str, list[str]]]:
    """``(layer name, tokens)`` of every lookup layer (TextVectorization, StringLookup), nested ones too."""
    return [(layer.name, [str(t) for t in layer.get_vocabulary()])
            for layer in flatten_layers(model) if hasattr(layer, "get_vocabulary")]


def commit(run_dir: Path, state: RunState) -> None:
    """Make ``state`` the run's resume point, then re-point links and prune old files."""
    atomic_write_json(run_dir / STATE_FILE, state.to_json())
    publish(run_dir, state)


def read_state(run_dir: Path) -> Optional[RunState]:
    """The committed state, or None when no epoch has completed yet."""
    path = run_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        state = RunState.from_json(data)
        _check_types(state)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{path}: unreadable resume state ({type(exc).__name__}: {str(exc)[:200]})") from None
    if state.format > FORMAT:
        raise CheckpointError(f"{path}: written by a newer aimodel (format {state.format}); upgrade aimodel")
    for rel in {state.checkpoint, state.best_checkpoint} - {None}:
        if not _is_checkpoint_name(rel):
            raise CheckpointError(
                f"{path}: names {rel!r} as a checkpoint; resume only reads checkpoints/epoch-NNNN.keras "
                "inside the run directory (the file was edited by hand)"
            )
        if not (run_dir / rel).is_file():
            raise CheckpointError(
                f"{run_dir / rel}: missing, but {path} names it as the checkpoint of the run; "
                "the run directory was modified by hand and cannot be resumed"
            )
    return state


def _is_checkpoint_name(rel) -> bool:
    """True for the names :func:`checkpoint_name` makes, and nothing that could leave the run directory."""
    import re

    return isinstance(rel, str) and re.fullmatch(rf"{CHECKPOINT_DIR}/epoch-\d{{4,}}\.keras", rel) is not None


def _check_types(state: RunState) -> None:
    for name in ("epoch", "global_step", "steps_per_epoch"):
        value = getattr(state, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if not isinstance(state.early_stopping, dict) or not isinstance(state.plateau, dict):
        raise ValueError("early_stopping and plateau must be mappings")
    if not isinstance(state.format, int):
        raise ValueError(f"format must be an integer, got {state.format!r}")


def has_saved_epochs(run_dir: Path) -> bool:
    """True when the run directory holds a checkpoint of some epoch (whatever state.json says)."""
    ckpt_dir = run_dir / CHECKPOINT_DIR
    return any((run_dir / n).exists() for n in ("last.keras", "best.keras")) or (
        ckpt_dir.is_dir() and any(p.suffix == ".keras" and not p.name.startswith(".") for p in ckpt_dir.iterdir()))


def publish(run_dir: Path, state: RunState) -> None:
    """Point ``last.keras``/``best.keras`` at the state's files; delete unreferenced ones.

    Idempotent: the runner calls it after every commit and again on resume,
    which repairs whatever a kill between commit and publish left behind.
    """
    _link(run_dir / state.checkpoint, run_dir / "last.keras")
    if state.best_checkpoint:
        _link(run_dir / state.best_checkpoint, run_dir / "best.keras")
    keep = {Path(state.checkpoint).name, Path(state.best_checkpoint or state.checkpoint).name}
    ckpt_dir = run_dir / CHECKPOINT_DIR
    for p in ckpt_dir.iterdir() if ckpt_dir.is_dir() else ():
        if p.name not in keep:
            p.unlink(missing_ok=True)
    remove_temporary_files(run_dir)


def remove_temporary_files(run_dir: Path) -> None:
    """Delete temporary files an interrupted atomic write left (``.<name>.*.tmp`` etc.)."""
    for p in run_dir.iterdir():
        if p.is_file() and p.name.startswith(".") and p.suffix in (".tmp", ".keras", ".link"):
            p.unlink(missing_ok=True)


def _link(src: Path, dst: Path) -> None:
    """Atomically make ``dst`` the same file as ``src`` (hard link, else a copy)."""
    try:
        if dst.exists() and os.path.samefile(src, dst):
            return
    except OSError:
        pass
    tmp = dst.parent / f".{dst.name}.{os.getpid()}.link"
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:  # no hard links on this filesystem
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    os.replace(tmp, dst)
    fsync_dir(dst.parent)


def restore(model, run_dir: Path, state: RunState) -> None:
    """Load the weights and optimizer variables of ``state.checkpoint`` into a compiled ``model``.

    The model is rebuilt from ``config.yaml`` rather than deserialized, so a
    resumed run can change ``training.epochs`` (the schedule is recomputed),
    and loading keeps Keras' safe mode on.
    """
    import keras

    path = run_dir / state.checkpoint
    model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(path)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(
            f"{path}: cannot load it into the model built from {run_dir / 'config.yaml'} "
            f"({type(exc).__name__}: {first[:300]}); was the model or optimizer section changed?"
        ) from None
    step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    if step != state.global_step:
        raise CheckpointError(
            f"{path}: the optimizer was restored at step {step} but {run_dir / STATE_FILE} says "
            f"{state.global_step}; the optimizer section was probably changed, which a resume cannot do"
        )
    if state.plateau.get("learning_rate") is not None:
        model.optimizer.learning_rate = state.plateau["learning_rate"]
