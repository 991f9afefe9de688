"""Find and load a trained model: one interface for every kind of checkpoint."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from aimodel.data.base import InputSpec
from aimodel.errors import CheckpointError


@dataclass
class Checkpoint:
    model_path: Path
    run_dir: Optional[Path]
    meta: dict

    @property
    def spec(self) -> Optional[InputSpec]:
        return InputSpec.from_json(self.meta["input"]) if "input" in self.meta else None


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


def resolve_checkpoint(path: str | Path | None, runs_root: str | Path = "runs") -> Checkpoint:
    """Accept a run directory, a ``.keras`` file (in a run directory or not) or None (latest run)."""
    p = Path(path) if path is not None else latest_run(runs_root)
    if p.is_dir():
        run_dir = p
        model_path = next((run_dir / n for n in ("best.keras", "last.keras") if (run_dir / n).is_file()), None)
        if model_path is None:
            raise CheckpointError(
                f"{p}: no best.keras or last.keras in this directory; is it a run directory "
                "(runs/<name>/<n>) whose training completed at least one epoch?"
            )
    elif p.is_file():
        if p.suffix != ".keras":
            raise CheckpointError(f"{p}: expected a run directory or a .keras file")
        model_path, run_dir = p, p.parent if (p.parent / "meta.json").is_file() else None
    else:
        raise CheckpointError(f"{p}: no such run directory or model file")
    meta: dict = {}
    if run_dir is not None and (run_dir / "meta.json").is_file():
        try:
            meta = json.loads((run_dir / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{run_dir / 'meta.json'}: unreadable ({exc})") from None
    return Checkpoint(model_path=model_path, run_dir=run_dir, meta=meta)


def load_model(path: Path):
    """Load a ``.keras`` file with Keras safe mode on (no arbitrary code from the file)."""
    import keras

    import aimodel.models.layers  # noqa: F401  (registers aimodel's custom layers with Keras)

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: cannot load model ({type(exc).__name__}: {first[:300]})") from None
