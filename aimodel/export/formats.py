"""Which export formats and quantizations exist, what each file is called, and which a model allows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from aimodel.errors import ExportError
from aimodel.registry import did_you_mean

FORMATS = ("tflite", "onnx", "saved_model")
#: training samples that calibrate int8 quantization
DEFAULT_CALIBRATION = 300
#: accuracy points an export may lose against best.keras before it counts as failed
DEFAULT_TOLERANCE = 1.0
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")

#: regression and multilabel: ``--tolerance`` times this for each quantization (an int8 file quantizes every
#: activation, the outputs included, so its values move more than a float file's; classification keeps
#: ``--tolerance`` as given). Regression counts MAE growth in % of the target's std, multilabel micro-F1 points.
TASK_TOLERANCE_FACTOR = {"none": 1.0, "float16": 1.0, "dynamic": 3.0, "int8": 5.0}
#: regression (in units of the target's std) and multilabel (a probability): the largest difference of any one
#: output from best.keras that an export may have
MAX_OUTPUT_DIFF = {"none": 0.01, "float16": 0.02, "dynamic": 0.15, "int8": 0.3}

#: quantizations each format supports
SUPPORTED = {
    "tflite": QUANTIZATIONS,
    "onnx": QUANTIZATIONS,
    "saved_model": ("none",),
}

WHY_NOT = {
    ("saved_model", "float16"): "a SavedModel keeps float32 weights; use --format tflite or onnx to quantize",
}

#: what ``quantize`` means, for help texts and docs
QUANTIZATION_HELP = {
    "none": "float32 weights and arithmetic",
    "float16": "float16 weights (half the size), float arithmetic",
    "dynamic": "int8 weights, activations quantized on the fly",
    "int8": "int8 weights and activations, calibrated on training samples",
}


@dataclass(frozen=True)
class Target:
    """One file to export: a format and a quantization."""

    format: str
    quantization: str
    #: brought in by "all": left out with a note (not an error) when this model cannot have it
    optional: bool = False

    def filename(self, stem: str = "model") -> str:
        name = stem if self.quantization == "none" else f"{stem}_{self.quantization}"
        return {"tflite": f"{name}.tflite", "onnx": f"{name}.onnx", "saved_model": f"{name}_saved_model"}[self.format]

    @property
    def label(self) -> str:
        return f"{self.format} {self.quantization}"


def parse_choices(values: Iterable[str], known: tuple[str, ...], what: str) -> tuple[list[str], bool]:
    """``["tflite,onnx"]`` or ``["all"]`` -> (names in canonical order, whether "all" was asked)."""
    names: list[str] = []
    for value in values:
        names += [v.strip().lower() for v in str(value).split(",") if v.strip()]
    if not names:
        raise ExportError(f"--{what}: expected one of {', '.join(known)} or all")
    if "all" in names:
        return list(known), True
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ExportError(f"--{what}: unknown {what} '{unknown[0]}'{did_you_mean(unknown[0], known)}; "
                          f"expected one of {', '.join(known)} or all")
    return [k for k in known if k in names], False


def plan(formats: Iterable[str], quantizations: Iterable[str], refusals: Optional[dict[str, str]] = None
         ) -> tuple[list[Target], list[str]]:
    """The files to export and the notes about combinations left out.

    A combination asked for by name that cannot be made is an error (nothing is
    written); one that only ``all`` brought in is left out with a note.

    Args:
        formats: format names, or ``["all"]``.
        quantizations: quantization names, or ``["all"]``.
        refusals: ``format`` or ``format:quantization`` -> why this model cannot have it.
    """
    fmts, all_formats = parse_choices(formats, FORMATS, "format")
    quants, all_quants = parse_choices(quantizations, QUANTIZATIONS, "quantize")
    refusals = refusals or {}
    targets, notes = [], []
    for fmt in fmts:
        if fmt in refusals:
            if not all_formats:
                raise ExportError(refusals[fmt])
            notes.append(refusals[fmt])
            continue
        for q in quants:
            why = refusals.get(f"{fmt}:{q}")
            if why and q in SUPPORTED[fmt]:
                if not (all_quants or all_formats):
                    raise ExportError(why)
                notes.append(why)
            elif q in SUPPORTED[fmt]:
                targets.append(Target(fmt, q, optional=all_formats or all_quants))
            elif not (all_quants or all_formats):
                why = WHY_NOT.get((fmt, q)) or WHY_NOT.get((fmt, "float16"))
                raise ExportError(f"--format {fmt} --quantize {q}: not supported ({why})")
    if not targets:
        raise ExportError("nothing to export: " + ("; ".join(notes) if notes else "no format and quantization fit"))
    return targets, notes


def existing(out_dir: Path, names: Iterable[str]) -> list[Path]:
    """Those of ``names`` (and their ``.json``) that already exist in ``out_dir``."""
    found = []
    for name in names:
        for p in (out_dir / name, out_dir / f"{name}.json"):
            if p.exists():
                found.append(p)
    return found
