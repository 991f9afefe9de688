"""``aimodel export``: a run's best.keras becomes verified TFLite, ONNX or SavedModel files.

Every file is written to a staging folder, loaded back in its own runtime and
scored on the run's test split next to ``best.keras``; only when every asked-for
file converted are they moved into place (a failed conversion leaves nothing
behind). An export that scores more than ``tolerance`` points below the Keras
model is kept but reported as failed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from aimodel.data.spec import InputSpec
from aimodel.errors import CheckpointError, ExportError
from aimodel.export.formats import (DEFAULT_CALIBRATION, DEFAULT_TOLERANCE, FORMATS, QUANTIZATIONS, Target,
                                    existing, parse_choices, plan)
from aimodel.export.graph import float32_file
from aimodel.fileio import atomic_write_json, fsync_dir
from aimodel.inference.checkpoint import Checkpoint, load_model, read_meta
from aimodel.inference.exported import sidecar_path

REPORT = "report.json"


def resolve_run(run: str | Path) -> tuple[Path, Path, dict]:
    """``(run directory, model file, meta)`` for a run directory or a ``.keras`` file inside one."""
    p = Path(run)
    if not p.exists():
        raise CheckpointError(f"{p}: no such run directory or .keras file")
    if p.is_file():
        if p.suffix != ".keras":
            raise CheckpointError(f"{p}: expected a run directory or a .keras file inside one")
        run_dir, model = p.parent, p
    else:
        run_dir, model = p, p / "best.keras"
        if not (run_dir / "meta.json").is_file() and not model.is_file():
            raise CheckpointError(f"{p}: not a run directory (no meta.json, no best.keras); pass runs/<name>/<n>")
        if not model.is_file():
            hint = "; pass RUN/last.keras to export the last epoch" if (run_dir / "last.keras").is_file() else \
                " (did training complete an epoch?)"
            raise CheckpointError(f"{p}: no best.keras in this run{hint}")
    if not (run_dir / "meta.json").is_file():
        raise CheckpointError(f"{model}: not inside a run directory (no meta.json beside it: classes and input "
                              "kind are unknown)")
    meta = read_meta(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise CheckpointError(f"{run_dir}: no config.yaml, so the test split that verifies an export cannot be "
                              "rebuilt")
    return run_dir, model, meta


def refusals_for(model, spec: InputSpec) -> dict[str, str]:
    """Format -> why this model cannot be exported to it (one line each)."""
    from aimodel.export.graph import recurrent_layers, token_graph_refusal

    out = {}
    recurrent = recurrent_layers(model)
    if recurrent:
        out["tflite:int8"] = (f"--format tflite --quantize int8: TensorFlow 2.21's int8 calibrator crashes on "
                              f"recurrent layers ({', '.join(recurrent[:3])}); use --quantize dynamic or float16, "
                              "or --format onnx --quantize int8")
    why = token_graph_refusal(model) if spec.kind == "text" else None
    if why:
        reason = ("this text model can be exported only to saved_model: TFLite and ONNX runtimes have no "
                  f"kernels for TextVectorization's string operations, and {why}")
        out.update(tflite=reason, onnx=reason)
    return out


def export_run(
    run: str | Path,
    *,
    formats: Sequence[str] = ("tflite",),
    quantize: Sequence[str] = ("none",),
    out: str | Path | None = None,
    calibration: int = DEFAULT_CALIBRATION,
    tolerance: float = DEFAULT_TOLERANCE,
    force: bool = False,
    batch_size: int = 256,
    progress: Optional[Callable[[str], None]] = None,
) -> dict:
    """Export a run's ``best.keras``, verify each file and write ``report.json``.

    Args:
        run: a run directory or a ``.keras`` file inside one.
        formats: ``tflite``, ``onnx``, ``saved_model`` (comma-separated allowed) or ``all``.
        quantize: ``none``, ``float16``, ``dynamic``, ``int8`` (comma-separated allowed) or ``all``.
        out: folder for the files (default ``RUN/exports``).
        calibration: training samples that calibrate int8 quantization.
        tolerance: accuracy points an export may lose against best.keras before it fails.
        force: replace files that exist (otherwise existing files are an error).
        batch_size: samples per call when scoring and timing.
        progress: called with a short message before each step.

    Returns:
        The report (also written to ``OUT/report.json``): ``keras`` (best.keras measured),
        ``exports`` (one row per file: format, quantization, bytes, size ratio, accuracy and
        its difference, largest probability difference, latency, throughput, status),
        ``failed`` (files beyond the tolerance), ``notes``, ``written_to``.

    Raises:
        CheckpointError: not a run, no best.keras.
        ExportError: unknown or impossible format/quantization, a file exists, a conversion failed.
    """
    say = progress or (lambda message: None)
    parse_choices(formats, FORMATS, "format")  # unknown names fail before TensorFlow loads
    parse_choices(quantize, QUANTIZATIONS, "quantize")
    if tolerance < 0:
        raise ExportError(f"--tolerance: expected ≥ 0 accuracy points, got {tolerance}")
    run_dir, model_path, meta = resolve_run(run)
    ckpt = Checkpoint(model_path=model_path, run_dir=run_dir, meta=meta)
    spec = ckpt.spec
    if spec is None:
        raise CheckpointError(f"{run_dir / 'meta.json'}: no input spec; was this run made by aimodel train?")
    out_dir = Path(out) if out is not None else run_dir / "exports"
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"--out {out_dir}: exists and is not a folder")

    say(f"loading {model_path}")
    from aimodel.inference.checkpoint import KerasBackend

    keras_backend = KerasBackend(model_path)
    targets, notes = plan(formats, quantize, refusals_for(keras_backend.model, spec))
    export_model = keras_backend.model
    clash = existing(out_dir, [t.filename() for t in targets])
    if clash and not force:
        raise ExportError(f"{clash[0]}: exists; pass --force to replace it, or --out DIR")

    say("rebuilding the test split")
    from aimodel.evaluation.sources import load_eval_data
    from aimodel.export.verify import TestBatches, measure, row

    ev = load_eval_data(ckpt, spec, "test")
    test = TestBatches.build(ev.x, ev.y, spec, ev.description, batch_size)
    say(f"measuring {model_path.name} on {test.samples} test samples")
    reference = measure(keras_backend, test)
    keras_row = row(model_path.name, "keras", "none", model_path.stat().st_size, reference, test, None, tolerance)

    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        float32_path = staging / "float32.keras"
        if float32_file(model_path, float32_path):
            # Trained with mixed precision: export the same weights computing in float32.
            say(f"{model_path.name} computes in 16 bits (training.precision); exporting its float32 equivalent")
            export_model = load_model(float32_path)
            float32_path.unlink()
            notes.append(f"{model_path.name} was trained with mixed precision; the exports compute in float32 "
                         "with the same weights")
        rows, skipped, calib_info, float_sizes = _export_all(
            targets, export_model, spec, meta, run_dir, out_dir, staging, calibration, test, reference,
            tolerance, say)
        notes += skipped
        if not rows:
            raise ExportError("nothing exported: " + "; ".join(notes))
        _move_into_place([r["file"] for r in rows], staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    for r in rows:
        r["float_bytes"] = float_sizes[r["format"]]
        r["size_ratio"] = round(r["bytes"] / r["float_bytes"], 4)
    report = _merge_report(out_dir / REPORT, {
        "run": str(run_dir), "model": str(model_path), "measured": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "test": {"samples": test.samples, "data": test.description}, "tolerance_points": tolerance,
        "keras": keras_row, "exports": rows, "calibration": calib_info, "notes": notes})
    atomic_write_json(out_dir / REPORT, report)
    report["failed"] = [r["file"] for r in rows if r.get("status") == "failed"]
    report["this_run"] = [r["file"] for r in rows]
    report["written_to"] = str(out_dir / REPORT)
    return report


def _export_all(targets: list[Target], model, spec: InputSpec, meta: dict, run_dir: Path, out_dir: Path,
                staging: Path, calibration: int, test, reference, tolerance: float, say
                ) -> tuple[list, list, dict, dict]:
    """Convert, describe and verify every target inside ``staging``.

    Returns the report rows, notes on targets left out, the calibration record and the
    size of each format's float32 file (converted for the size alone when not asked for).
    """
    from aimodel.export.calibration import calibration_feeds
    from aimodel.export.convert import float_onnx, quantize_onnx, to_tflite
    from aimodel.export.graph import full_graph, token_graph, write_saved_model
    from aimodel.export.verify import measure, row, size_bytes
    from aimodel.inference.checkpoint import BACKENDS

    graphs: dict[str, object] = {}
    feeds: dict[str, list] = {}
    calib_info: dict = {}
    rows, skipped = [], []
    float_sizes: dict[str, int] = {}
    work = staging / ".work"
    work.mkdir()

    def graph_for(fmt: str):
        kind = "tokens" if spec.kind == "text" and fmt != "saved_model" else "full"
        if kind not in graphs:
            graphs[kind] = token_graph(model) if kind == "tokens" else full_graph(model)
        return kind, graphs[kind]

    float_onnx_path: Optional[Path] = None
    for target in targets:
        name = target.filename()
        staged = staging / name
        kind, graph = graph_for(target.format)
        calib = None
        if target.quantization == "int8":
            if kind not in feeds:
                say(f"drawing {calibration} calibration samples from the training split")
                feeds[kind], calib_info = calibration_feeds(run_dir, spec, graph, calibration)
            calib = feeds[kind]
        say(f"exporting {name}")
        notes = list(graph.notes)
        try:
            if target.format == "tflite":
                notes += to_tflite(graph, target.quantization, staged, calib)
                if "tflite" not in float_sizes and target.quantization != "none":
                    say("converting a float32 .tflite file for the size comparison")
                    to_tflite(graph, "none", work / "float.tflite")
                    float_sizes["tflite"] = size_bytes(work / "float.tflite")
            elif target.format == "onnx":
                if float_onnx_path is None:
                    float_onnx_path = work / "float.onnx"
                    float_onnx(graph, float_onnx_path, work)
                    float_sizes["onnx"] = size_bytes(float_onnx_path)
                quantize_onnx(float_onnx_path, target.quantization, staged, work, calib)
            else:
                write_saved_model(graph, staged)
        except ExportError as exc:
            if not target.optional:
                raise
            skipped.append(f"{name} skipped: {exc}")
            continue
        side = dict(meta)
        side["export"] = {
            "format": target.format, "quantization": target.quantization, "source": "best.keras",
            "run": os.path.relpath(run_dir.resolve(), out_dir.resolve()),
            "inputs": graph.inputs, "notes": notes,
            "tokenizer": graph.tokenizer.to_json() if graph.tokenizer is not None else None,
            "calibration": calib_info if calib is not None else None,
        }
        atomic_write_json(sidecar_path(staged), side)
        say(f"verifying {name}")
        backend = BACKENDS.get(target.format)(staged)
        measured = measure(backend, test)
        r = row(name, target.format, target.quantization, size_bytes(staged), measured, test, reference, tolerance)
        r["notes"] = notes
        rows.append(r)
        if target.quantization == "none":
            float_sizes[target.format] = r["bytes"]
    return rows, skipped, calib_info, float_sizes


def _move_into_place(names: list[str], staging: Path, out_dir: Path) -> None:
    """Move each staged file (and its ``.json``) over its final name; the ``.json`` first."""
    for name in names:
        for src in (sidecar_path(staging / name), staging / name):
            dst = out_dir / src.name
            if dst.is_dir() and src.is_dir():
                old = staging / f".old-{src.name}"
                os.replace(dst, old)  # a folder cannot be renamed over a non-empty one
            os.replace(src, dst)
    fsync_dir(out_dir)


def _merge_report(path: Path, new: dict) -> dict:
    """``new``, keeping rows of an earlier report.json for files that still exist and were not redone."""
    old_rows = []
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            if old.get("model") == new["model"]:
                old_rows = [r for r in old.get("exports", []) if isinstance(r, dict)]
        except (OSError, ValueError, AttributeError):
            old_rows = []
    redone = {r["file"] for r in new["exports"]}
    kept = [r for r in old_rows if r.get("file") not in redone and (path.parent / str(r.get("file"))).exists()]
    return dict(new, exports=kept + new["exports"])
