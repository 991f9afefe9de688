"""``aimodel export``: a run's best.keras becomes verified TFLite, ONNX or SavedModel files.

Every file is written to a staging folder, loaded back in its own runtime and
scored on the run's test split next to ``best.keras``; only when every asked-for
file converted are they moved into place (a failed conversion leaves nothing
behind). An export that scores more than ``tolerance`` points below the Keras
model is kept but reported as failed.

Each file's ``.json`` records the sha256 of the ``.keras`` file it came from: an
export whose source is unchanged is *up to date* and is not redone (unless
``force``); one whose source changed is *stale*, and predict, evaluate, serve and
``runs list`` say so.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from aimodel.data.spec import InputSpec, value_contract
from aimodel.errors import CheckpointError, ExportError, storage_error
from aimodel.export.convert import EXPORT_RETRY, storage_failure
from aimodel.export.converters import CONVERTERS, Workspace
from aimodel.export.formats import (DEFAULT_CALIBRATION, DEFAULT_TOLERANCE, FORMATS, QUANTIZATIONS, Target,
                                    existing, parse_choices, plan)
from aimodel.export.graph import float32_file
from aimodel.export.metadata import write_contract
from aimodel.fileio import atomic_write_json, fsync_dir
from aimodel.inference.checkpoint import Checkpoint, load_model, read_meta
from aimodel.inference.exported import read_sidecar, sidecar_path, source_record
from aimodel.tasks import task_of, thresholds_of

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


@dataclass(frozen=True)
class ExportOptions:
    """What ``aimodel export`` asks for; the fields are :func:`export_run`'s keyword arguments."""

    #: ``tflite``, ``onnx``, ``saved_model`` (comma-separated allowed) or ``all``
    formats: Sequence[str] = ("tflite",)
    #: ``none``, ``float16``, ``dynamic``, ``int8`` (comma-separated allowed) or ``all``
    quantize: Sequence[str] = ("none",)
    #: folder for the files (default ``RUN/exports``)
    out: str | Path | None = None
    #: training samples that calibrate int8 quantization
    calibration: int = DEFAULT_CALIBRATION
    #: how much worse than best.keras an export may score before it fails: accuracy points (classification),
    #: micro-F1 points (multilabel), MAE growth in % of the target's std (regression; both looser for
    #: quantized files, :data:`~aimodel.export.formats.TASK_TOLERANCE_FACTOR`)
    tolerance: float = DEFAULT_TOLERANCE
    #: redo up-to-date files and replace stale ones (otherwise an up-to-date file is kept as it is,
    #: and a stale one is an error)
    force: bool = False
    #: samples per call when scoring and timing
    batch_size: int = 256


@dataclass
class ExportRow:
    """One exported file's line in ``report.json`` (best.keras's own line is :func:`verify.row`'s dict alone)."""

    #: :func:`verify.row`'s dict: file, format, quantization, bytes, the task's figures (classification:
    #: accuracy; regression: mae, rmse; multilabel: micro_f1, subset_accuracy), latency_ms, throughput_per_s,
    #: the differences to best.keras (classification: accuracy_diff_points, max_prob_diff, agreement) and
    #: ``status``: ``ok`` or ``failed`` (beyond the tolerance)
    measured: dict
    notes: list[str] = field(default_factory=list)
    #: the same format's float32 file, and this file's size against it
    float_bytes: Optional[int] = None
    size_ratio: Optional[float] = None

    @property
    def file(self) -> str:
        return self.measured["file"]

    @property
    def format(self) -> str:
        return self.measured["format"]

    @property
    def bytes(self) -> int:
        return self.measured["bytes"]

    @property
    def status(self) -> str:
        return self.measured["status"]

    def to_json(self) -> dict:
        return {**self.measured, "notes": self.notes, "float_bytes": self.float_bytes, "size_ratio": self.size_ratio}


@dataclass
class _Job:
    """One export of one run: what was asked, where it reads and writes, and best.keras measured."""

    options: ExportOptions
    run_dir: Path
    model_path: Path
    meta: dict
    checkpoint: Checkpoint
    spec: InputSpec
    out_dir: Path
    say: Callable[[str], None]
    #: the model file's name, sha256, size and mtime (:func:`source_record`), kept in each export's .json
    source: dict
    test: Any = None  # verify.TestBatches: the run's test split
    reference: Any = None  # verify.Measurement of best.keras on it


def export_run(run: str | Path, options: Optional[ExportOptions] = None, *,
               progress: Optional[Callable[[str], None]] = None, **fields) -> dict:
    """Export a run's ``best.keras``, verify each file and write ``report.json``.

    Args:
        run: a run directory or a ``.keras`` file inside one.
        options: formats, quantizations, folder, ... (:class:`ExportOptions`); keyword arguments
            named as its fields replace them (``export_run(run, formats=["onnx"])``).
        progress: called with a short message before each step.

    Returns:
        The report (also written to ``OUT/report.json``): ``keras`` (best.keras measured),
        ``exports`` (one row per file: format, quantization, bytes, size ratio, accuracy and
        its difference, largest probability difference, latency, throughput, status),
        ``failed`` (files beyond the tolerance), ``notes``, ``written_to``. When every asked-for
        file is up to date (made from the model file as it is now) nothing is redone, unless
        ``force``: the report is the earlier one with ``up_to_date`` naming the files.

    Raises:
        CheckpointError: not a run, no best.keras.
        ExportError: unknown or impossible format/quantization, a file exists (stale, or not made
            by this version of aimodel), a conversion failed.
        StorageError: the out folder cannot be written (checked first), or the disk filled up.
    """
    job = _prepare(run, options, fields, progress or (lambda message: None))
    opts = job.options
    job.say(f"loading {job.model_path}")
    from aimodel.inference.checkpoint import KerasBackend

    keras_backend = KerasBackend(job.model_path)
    targets, notes = plan(opts.formats, opts.quantize, refusals_for(keras_backend.model, job.spec))
    fresh = [] if opts.force else [t for t in targets if _up_to_date(job, t.filename())]
    targets = [t for t in targets if t not in fresh]
    if fresh and not targets:
        return _up_to_date_report(job, [t.filename() for t in fresh])
    notes += [f"{t.filename()}: up to date with {job.model_path.name}, kept as it is (--force redoes it)"
              for t in fresh]
    clash = existing(job.out_dir, [t.filename() for t in targets])
    if clash and not opts.force:
        made_from = _made_from(job, clash[0])
        stale = f" and is stale ({job.model_path.name} has changed since it was exported)" \
            if made_from and made_from != job.source["source_sha256"] else ""
        raise ExportError(f"{clash[0]}: exists{stale}; pass --force to replace it, or --out DIR")
    keras_row = _measure_reference(job, keras_backend)
    try:
        done = _export_staged(job, targets, keras_backend.model, notes)
        return _write_report(job, keras_row, done, notes)
    except OSError as exc:  # disk full, read-only: name the folder, and no "train --resume" hint
        storage = storage_failure(exc, job.out_dir)
        if storage is None:
            raise
        raise storage from None


def check_export(run: str | Path, options: Optional[ExportOptions] = None, **fields) -> None:
    """What :func:`export_run` checks before loading any model, in a fraction of a second.

    Unknown formats, a run that is not one, an ``out`` folder that cannot be written: the CLI
    calls this before importing TensorFlow, so such mistakes fail at once.
    """
    _prepare(run, options, fields, lambda message: None)


def _prepare(run: str | Path, options: Optional[ExportOptions], fields: dict, say: Callable[[str], None]) -> _Job:
    if options is not None and not isinstance(options, ExportOptions):
        raise TypeError(f"export_run: options must be an ExportOptions, got {type(options).__name__}")
    opts = replace(options or ExportOptions(), **fields)
    parse_choices(opts.formats, FORMATS, "format")  # unknown names fail before TensorFlow loads
    parse_choices(opts.quantize, QUANTIZATIONS, "quantize")
    if opts.tolerance < 0:
        raise ExportError(f"--tolerance: expected ≥ 0 points, got {opts.tolerance}")
    return _open_job(run, opts, say)


def _open_job(run: str | Path, opts: ExportOptions, say: Callable[[str], None]) -> _Job:
    run_dir, model_path, meta = resolve_run(run)
    ckpt = Checkpoint(model_path=model_path, run_dir=run_dir, meta=meta)
    spec = ckpt.spec
    if spec is None:
        raise CheckpointError(f"{run_dir / 'meta.json'}: no input spec; was this run made by aimodel train?")
    out_dir = Path(opts.out) if opts.out is not None else run_dir / "exports"
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"--out {out_dir}: exists and is not a folder")
    _check_writable(out_dir)
    return _Job(options=opts, run_dir=run_dir, model_path=model_path, meta=meta, checkpoint=ckpt, spec=spec,
                out_dir=out_dir, say=say, source=source_record(model_path))


def _check_writable(out_dir: Path) -> None:
    """Fail now, not after a minute of loading and measuring, when ``out_dir`` cannot be written (or created)."""
    probe = out_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # the folder is created later: its nearest existing parent must be writable
    if not probe.is_dir():
        raise ExportError(f"--out {out_dir}: {probe} is a file, so the folder cannot be created there")
    try:
        fd, name = tempfile.mkstemp(prefix=".aimodel-write-check-", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        # the probe's own name means nothing to the user: name the folder asked for
        storage = storage_error(OSError(exc.errno, exc.strerror), where=out_dir, retry=EXPORT_RETRY)
        raise (storage or ExportError(f"--out {out_dir}: cannot write there ({exc.strerror or exc})")) from None


def _made_from(job: _Job, path: Path) -> Optional[str]:
    """The sha256 of the model file an existing export in the out folder was made from (None: unknown)."""
    export = path.with_name(path.name[: -len(".json")]) if path.name.endswith(".json") else path
    try:
        side = read_sidecar(export) or {}
    except CheckpointError:
        return None
    recorded = side.get("export") or {}
    return recorded.get("source_sha256") if recorded.get("source") == job.model_path.name else None


def _up_to_date(job: _Job, name: str) -> bool:
    """Whether ``OUT/name`` exists and was exported from the model file as it is now."""
    path = job.out_dir / name
    return path.exists() and _made_from(job, path) == job.source["source_sha256"]


def _up_to_date_report(job: _Job, names: list[str]) -> dict:
    """What :func:`export_run` returns when every asked-for file is up to date: report.json, nothing redone."""
    try:
        report = json.loads((job.out_dir / REPORT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = {}
    report = report if isinstance(report, dict) else {}
    job.say(f"{', '.join(names)}: up to date with {job.model_path}; nothing to do")
    return dict(report, up_to_date=names, failed=[], this_run=[], source_sha256=job.source["source_sha256"],
                written_to=str(job.out_dir / REPORT))


def _measure_reference(job: _Job, keras_backend) -> dict:
    """Rebuild the run's test split and measure best.keras on it; its report row."""
    job.say("rebuilding the test split")
    from aimodel.evaluation.sources import load_eval_data
    from aimodel.export.verify import TestBatches, measure, row

    from aimodel.models.factory import target_scale

    ev = load_eval_data(job.checkpoint, job.spec, "test")
    job.test = TestBatches.build(ev.x, ev.y, job.spec, ev.description, job.options.batch_size)
    job.test.scale = target_scale(keras_backend.model)
    job.say(f"measuring {job.model_path.name} on {job.test.samples} test samples")
    job.reference = measure(keras_backend, job.test)
    return row(job.model_path.name, "keras", "none", job.model_path.stat().st_size, job.reference, job.test, None,
               job.options.tolerance)


def _export_staged(job: _Job, targets: list[Target], model, notes: list[str]) -> _Converted:
    """Convert and verify every target in a staging folder, then move them into place (none if one fails)."""
    model_path, out_dir = job.model_path, job.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        float32_path = staging / "float32.keras"
        if float32_file(model_path, float32_path):
            # Trained with mixed precision: export the same weights computing in float32.
            job.say(f"{model_path.name} computes in 16 bits (training.precision); exporting its float32 equivalent")
            model = load_model(float32_path)
            float32_path.unlink()
            notes.append(f"{model_path.name} was trained with mixed precision; the exports compute in float32 "
                         "with the same weights")
        done = _export_all(job, targets, model, staging)
        notes += done.skipped
        if not done.rows:
            raise ExportError("nothing exported: " + "; ".join(notes))
        _move_into_place([r.file for r in done.rows], staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for r in done.rows:
        r.float_bytes = done.float_sizes[r.format]
        r.size_ratio = round(r.bytes / r.float_bytes, 4)
    return done


def _write_report(job: _Job, keras_row: dict, done: _Converted, notes: list[str]) -> dict:
    """Write ``report.json`` (keeping earlier rows of files not redone) and return it with this run's verdicts."""
    report = _merge_report(job.out_dir / REPORT, {
        "run": str(job.run_dir), "model": str(job.model_path), "measured": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "test": {"samples": job.test.samples, "data": job.test.description},
        "task": task_of(job.spec).name, "outputs": list(job.spec.class_names),
        "tolerance_points": job.options.tolerance, "keras": keras_row, "exports": [r.to_json() for r in done.rows],
        "calibration": done.calibration, "notes": notes})
    atomic_write_json(job.out_dir / REPORT, report)
    report["failed"] = [r.file for r in done.rows if r.status == "failed"]
    report["this_run"] = [r.file for r in done.rows]
    report["written_to"] = str(job.out_dir / REPORT)
    return report


@dataclass
class _Graphs:
    """The inference graphs and calibration feeds of one export, each made once when first needed."""

    model: Any
    spec: InputSpec
    graphs: dict = field(default_factory=dict)
    feeds: dict = field(default_factory=dict)
    #: how the int8 calibration samples were drawn (report.json's ``calibration``)
    calibration: dict = field(default_factory=dict)

    def graph_for(self, fmt: str):
        """``(kind, graph)``: a text model's TFLite and ONNX files take token ids, everything else the full model."""
        from aimodel.export.graph import full_graph, token_graph

        kind = "tokens" if self.spec.kind == "text" and fmt != "saved_model" else "full"
        if kind not in self.graphs:
            self.graphs[kind] = token_graph(self.model) if kind == "tokens" else full_graph(self.model)
        return kind, self.graphs[kind]

    def feeds_for(self, kind: str, graph, job: _Job) -> list:
        """The int8 calibration inputs of graph ``kind``, drawn from the training split the first time."""
        from aimodel.export.calibration import calibration_feeds

        if kind not in self.feeds:
            job.say(f"drawing {job.options.calibration} calibration samples from the training split")
            self.feeds[kind], self.calibration = calibration_feeds(job.run_dir, self.spec, graph,
                                                                   job.options.calibration)
        return self.feeds[kind]


@dataclass
class _Converted:
    """What :func:`_export_all` made: a row per verified file, and what the report says beside them."""

    rows: list[ExportRow]
    #: notes on optional targets left out (their conversion failed)
    skipped: list[str]
    calibration: dict
    #: format -> bytes of its float32 file (converted for the size alone when not asked for)
    float_sizes: dict[str, int]


def _export_all(job: _Job, targets: list[Target], model, staging: Path) -> _Converted:
    """Convert (through :data:`CONVERTERS`), describe and verify every target inside ``staging``."""
    work = staging / ".work"
    work.mkdir()
    ws = Workspace(work=work, say=job.say)
    graphs = _Graphs(model, job.spec)
    rows, skipped = [], []
    for target in targets:
        staged = staging / target.filename()
        kind, graph = graphs.graph_for(target.format)
        calib = graphs.feeds_for(kind, graph, job) if target.quantization == "int8" else None
        job.say(f"exporting {staged.name}")
        notes = list(graph.notes)
        try:
            notes += CONVERTERS.get(target.format)(ws, target, graph, staged, calib)
        except ExportError as exc:
            if not target.optional:
                raise
            skipped.append(f"{staged.name} skipped: {exc}")
            continue
        # in the file too, for a copy that travels without its .json (before verifying: what ships is checked)
        write_contract(target.format, staged, value_contract(job.spec))
        _write_sidecar(job, target, graph, notes, graphs.calibration if calib is not None else None, staged)
        rows.append(_verify(job, target, staged, notes))
        if target.quantization == "none":
            ws.float_sizes[target.format] = rows[-1].bytes
    return _Converted(rows=rows, skipped=skipped, calibration=graphs.calibration, float_sizes=ws.float_sizes)


def _write_sidecar(job: _Job, target: Target, graph, notes: list[str], calibration: Optional[dict],
                   staged: Path) -> None:
    """The export's ``.json``: the run's meta plus how the file was made (what lets it predict on its own)."""
    side = dict(job.meta)
    side["export"] = {
        "format": target.format, "quantization": target.quantization, **job.source,
        "run": os.path.relpath(job.run_dir.resolve(), job.out_dir.resolve()),
        "inputs": graph.inputs, "notes": notes,
        "tokenizer": graph.tokenizer.to_json() if graph.tokenizer is not None else None,
        "calibration": calibration,
        "value_contract": value_contract(job.spec),
        **output_contract(job.spec),
    }
    atomic_write_json(sidecar_path(staged), side)


def output_contract(spec: InputSpec) -> dict:
    """What the exported file answers: the task, its output names in column order, multilabel thresholds, and
    for regression that the outputs are in the target's own unit (the model's target_units layer undoes the
    standardization, so no reader rescales them)."""
    task = task_of(spec).name
    out = {"task": task, "outputs": list(spec.class_names)}
    if task == "regression":
        out["output_unit"] = "target"
    if task == "multilabel":
        out["thresholds"] = thresholds_of(spec)
    return out


def _verify(job: _Job, target: Target, staged: Path, notes: list[str]) -> ExportRow:
    """Load the staged file in its own runtime and score it on the test split next to best.keras."""
    from aimodel.export.verify import measure, row, size_bytes
    from aimodel.inference.checkpoint import BACKENDS

    name = staged.name
    job.say(f"verifying {name}")
    measured = measure(BACKENDS.get(target.format)(staged), job.test)
    fields = row(name, target.format, target.quantization, size_bytes(staged), measured, job.test, job.reference,
                 job.options.tolerance)
    return ExportRow(fields, notes=notes)


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
