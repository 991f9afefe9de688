"""``aimodel export``: parse, call :func:`aimodel.export.export_run`, print its table."""

from __future__ import annotations

import json
from pathlib import Path

import click

from aimodel.errors import ExportError
from aimodel.export.formats import DEFAULT_CALIBRATION, DEFAULT_TOLERANCE, TASK_TOLERANCE_FACTOR

FORMAT_HELP = "tflite, onnx, saved_model, a comma-separated list, or all."
QUANTIZE_HELP = ("none (float32), float16 (half-size weights), dynamic (int8 weights), int8 (int8 weights and "
                 "activations, calibrated on training samples), a comma-separated list, or all.")


@click.command("export", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--format", "formats", default="tflite", show_default=True, metavar="FORMAT", help=FORMAT_HELP)
@click.option("--quantize", default="none", show_default=True, metavar="QUANT", help=QUANTIZE_HELP)
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the files and report.json [default: RUN/exports].")
@click.option("--calibration", type=click.IntRange(min=1), default=DEFAULT_CALIBRATION, show_default=True, metavar="N",
              help="Training samples (seeded) that calibrate --quantize int8.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=DEFAULT_TOLERANCE, show_default=True,
              metavar="POINTS",
              help="How much worse than best.keras an export may score before it counts as failed (exit 1): "
              "accuracy points; micro-F1 points (multilabel); MAE growth in % of the target's std (regression); "
              "regression and multilabel allow 3× for dynamic and 5× for int8 files.")
@click.option("--force", is_flag=True, help="Export again files that exist: up-to-date ones (default: kept, "
              "with a line saying so) and stale ones, whose best.keras changed since (default: refuse).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def export(run: Path, formats: str, quantize: str, out: Path | None, calibration: int, tolerance: float,
           force: bool, as_json: bool) -> None:
    """Export RUN's best.keras to TFLite, ONNX or SavedModel, and verify each file.

    \b
    RUN is a run directory or a .keras file inside one (RUN/last.keras).
    Each file is loaded back in its own runtime and scored on the run's test split next
    to best.keras: size, accuracy, largest probability difference, latency, throughput
    (RUN/exports/report.json). evaluate and predict take the files like a .keras file:
      aimodel export runs/mnist_cnn/1 --quantize int8
      aimodel predict photo.png --model runs/mnist_cnn/1/exports/model_int8.tflite
      aimodel export runs/mnist_cnn/1 --format all --quantize all
    """
    from aimodel.export.run import ExportOptions, check_export, export_run
    from aimodel.inference.exported import captured

    options = ExportOptions(formats=[formats], quantize=[quantize], out=out, calibration=calibration,
                            tolerance=tolerance, force=force)
    check_export(run, options)  # a bad run or an unwritable --out fails before TensorFlow starts
    with captured():  # TensorFlow's start-up lines (shown with --debug)
        import keras  # noqa: F401
        import tensorflow  # noqa: F401

    def progress(message: str) -> None:
        if not as_json:
            click.secho(f"… {message}", dim=True, err=True)

    report = export_run(run, options, progress=progress)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    elif report.get("up_to_date") and not report["this_run"]:
        folder = Path(report["written_to"]).parent
        for name in report["up_to_date"]:
            click.echo(f"{folder / name}: up to date with the run's model (sha256 {report['source_sha256'][:12]}…); "
                       "not exported again (pass --force to redo it)")
    else:
        print_export_report(report)
    if report["failed"]:
        raise ExportError(failure_message(report, tolerance))


#: task -> the report's task columns: (header, row key, format)
TASK_COLUMNS = {
    "classification": (("accuracy", "accuracy", "{:.4f}"), ("Δ points", "accuracy_diff_points", "{:+.2f}"),
                       ("max Δp", "max_prob_diff", "{:.4f}"), ("agree", "agreement", "{:.2%}")),
    "regression": (("MAE", "mae", "{:.4g}"), ("Δ MAE", "mae_diff", "{:+.4g}"),
                   ("Δ MAE % std", "mae_diff_std_points", "{:+.2f}"), ("max Δ std", "max_diff_std", "{:.4f}")),
    "multilabel": (("micro-F1", "micro_f1", "{:.4f}"), ("Δ points", "micro_f1_diff_points", "{:+.2f}"),
                   ("max Δp", "max_prob_diff", "{:.4f}"), ("agree", "agreement", "{:.2%}")),
}
#: task -> what --tolerance counts
TOLERANCE_UNITS = {"classification": "accuracy points", "regression": "% of the target's std (MAE growth)",
                   "multilabel": "micro-F1 points"}


def failure_message(report: dict, tolerance: float) -> str:
    """The one line ``aimodel export`` exits 1 with when a file scored beyond the tolerance."""
    task = report.get("task", "classification")
    what = {"classification": f"accuracy more than {tolerance:g} points below best.keras",
            "regression": f"MAE or predictions further from best.keras than allowed ({tolerance:g}% of the "
                          "target's std, looser for quantized files)",
            "multilabel": f"micro-F1 or label probabilities further from best.keras than allowed ({tolerance:g} "
                          "points, looser for quantized files)"}[task]
    return f"{', '.join(report['failed'])}: {what} (the file is kept; see {report['written_to']})"


def print_export_report(report: dict) -> None:
    """The table of files: size, the task's figures against best.keras, speed."""
    from rich.table import Table

    from aimodel.cli_render import console

    task = report.get("task", "classification")
    done = set(report.get("this_run", []))
    rows = [report["keras"]] + [r for r in report["exports"] if r["file"] in done]
    table = Table(title=f"exports of {report['model']} (test split: {report['test']['samples']} samples)")
    columns = TASK_COLUMNS[task]
    for col in ("file", "format", "quant", "size", "× float", *[c[0] for c in columns], "latency", "throughput",
                "status"):
        table.add_column(col, justify="left" if col in ("file", "format", "quant", "status") else "right")
    for r in rows:
        status = r.get("status", "reference")
        color = {"ok": "green", "failed": "red"}.get(status, "white")
        table.add_row(
            r["file"], r["format"], r["quantization"], _size(r["bytes"]),
            f"{r['size_ratio']:.2f}×" if "size_ratio" in r else "",
            *[fmt.format(r[key]) if r.get(key) is not None else "" for _, key, fmt in columns],
            f"{r['latency_ms']:.2f} ms", f"{r['throughput_per_s']:,.0f}/s", f"[{color}]{status}[/]")
    console.print(table)
    for note in report.get("notes", []):
        console.print(f"[yellow]note:[/] {note}")
    notes = {n for r in rows for n in r.get("notes", [])}
    for note in sorted(notes):
        console.print(f"[dim]{note}[/]")
    looser = "" if task == "classification" else " (" + ", ".join(
        f"× {f:g} for {q}" for q, f in TASK_TOLERANCE_FACTOR.items() if f != 1) + " files)"
    console.print(f"× float: size against the same format's float32 file; latency: one input; tolerance: "
                  f"{report['tolerance_points']:g} {TOLERANCE_UNITS[task]}{looser}. Report: {report['written_to']}")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return str(n)
