"""Rich rendering for the CLI: live training progress and result tables."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from aimodel.training.progress import Reporter

# Pipes and logs get a wide console so paths are never cut.
console = Console(width=None if sys.stdout.isatty() else 160)


def _fmt(logs: dict) -> str:
    keys = [k for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in logs]
    return "  ".join(f"{k} {float(logs[k]):.4f}" for k in keys)


def _begin_line(epochs: int, steps: int, initial_epoch: int) -> str:
    if initial_epoch:
        return f"resuming after epoch {initial_epoch}: epochs {initial_epoch + 1}-{epochs} × {steps} steps"
    return f"training: {epochs} epochs × {steps} steps"


class PlainReporter(Reporter):
    """One line per epoch, for logs and pipes, and a progress line every ``every`` seconds within a long
    epoch (a slow first epoch on images does not look like a hang)."""

    def __init__(self, quiet: bool = False, every: float = 30.0):
        self.quiet = quiet
        self.epochs = self.steps = 0
        self.every = every
        self._last = 0.0

    def epoch_begin(self, epoch):
        self._last = time.monotonic()

    def batch_end(self, epoch, step, logs):
        now = time.monotonic()
        if self.quiet or now - self._last < self.every or step >= self.steps:
            return
        self._last = now
        print(f"epoch {epoch}/{self.epochs}  step {step}/{self.steps}  {_fmt(logs)}", flush=True)

    def note(self, message):
        if not self.quiet:
            print(message, flush=True)

    def train_begin(self, epochs, steps_per_epoch, run_dir, initial_epoch=0):
        self.epochs, self.steps = epochs, steps_per_epoch
        if not self.quiet:
            print(f"{_begin_line(epochs, steps_per_epoch, initial_epoch)} → {run_dir}", flush=True)

    def epoch_end(self, epoch, logs, seconds, improved):
        if not self.quiet:
            star = " *" if improved else ""
            print(f"epoch {epoch}/{self.epochs}  {_fmt(logs)}  {seconds:.1f}s{star}", flush=True)


class RichReporter(Reporter):
    """Epoch and batch bars with live metrics and ETA."""

    def __init__(self):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=console, transient=False,
        )
        self.epochs = self.steps = 0

    def note(self, message):
        console.print(message)

    def train_begin(self, epochs, steps_per_epoch, run_dir, initial_epoch=0):
        self.epochs, self.steps = epochs, steps_per_epoch
        console.print(f"{_begin_line(epochs, steps_per_epoch, initial_epoch)} → [cyan]{run_dir}[/]")
        self.progress.start()
        self.epoch_task = self.progress.add_task("epochs", total=epochs, completed=initial_epoch, metrics="")
        self.batch_task = self.progress.add_task(f"epoch {initial_epoch + 1}", total=steps_per_epoch, metrics="")

    def epoch_begin(self, epoch):
        self.progress.reset(self.batch_task, total=self.steps, description=f"epoch {epoch}", metrics="")

    def batch_end(self, epoch, step, logs):
        self.progress.update(self.batch_task, completed=step, metrics=_fmt(logs))

    def epoch_end(self, epoch, logs, seconds, improved):
        self.progress.update(self.batch_task, completed=self.steps)
        self.progress.update(self.epoch_task, completed=epoch, metrics=_fmt(logs))
        star = " [green]* best[/]" if improved else ""
        self.progress.console.print(f"epoch {epoch}/{self.epochs}  {_fmt(logs)}  {seconds:.1f}s{star}")

    def train_end(self):
        self.progress.stop()


def make_reporter(quiet: bool) -> Reporter:
    if quiet or not sys.stdout.isatty():
        return PlainReporter(quiet)
    return RichReporter()


def print_train_summary(result) -> None:
    title = "training finished" + (" (stopped early)" if result.stopped_early else "")
    table = Table(title=title, show_header=False)
    table.add_row("run directory", str(result.run_dir))
    resumed = f", resumed after epoch {result.resumed_from}" if result.resumed_from is not None else ""
    table.add_row("epochs", f"{result.epochs} ({result.global_step:,} optimizer steps{resumed})")
    if result.best_value is not None:
        table.add_row(f"best {result.monitor}", f"{result.best_value:.4f} (epoch {result.best_epoch})")
    table.add_row("final model", result.final_model)
    for key, value in result.final_metrics.items():
        if key != "learning_rate":
            table.add_row(f"  {key}", f"{value:.4f}")
    table.add_row("wall time", f"{result.seconds:.1f} s")
    if result.samples_per_second:
        table.add_row("throughput", f"{result.samples_per_second:,.0f} samples/s")
    table.add_row("records", "metrics.csv, curves.png, train.log, summary.json, tensorboard/"
                  + (", baseline.json" if result.baseline else ""))
    if result.baseline:
        key = _headline(result.baseline["model"])
        table.add_row(f"test {_LABELS.get(key, key)}", f"{result.baseline['model'][key]:.4f}")
        for name, figures in result.baseline["baselines"].items():
            table.add_row(f"  baseline: {name.replace('_', ' ')}", f"{figures[key]:.4f}")
    console.print(table)
    for note in ([result.baseline.get("note")] if result.baseline else []) + list(result.notes):
        if note:
            console.print(f"note: {note}")
    console.print(f"next: aimodel evaluate {shlex.quote(str(result.run_dir))}", markup=False, highlight=False,
                  soft_wrap=True)  # one line, copy-pasteable


def print_runs(runs, root=None) -> None:
    """The table of ``aimodel runs list``; paths are shown relative to ``root``."""
    from pathlib import Path

    from rich import box

    table = Table(title=f"{len(runs)} run(s)" + (f" in {root}" if root else ""), box=box.SIMPLE_HEAD)
    show_baseline = any(r.baselines for r in runs)
    for col in ("run", "name", "task", "started", "epochs", "batch", "best") + (("test / baselines",) if show_baseline
                                                                          else ()) + ("status",):
        table.add_column(col, justify="right" if col in ("epochs", "batch") else "left", no_wrap=col != "best")
    colors = {"finished": "green", "interrupted": "yellow", "failed": "red", "running": "cyan"}
    for r in runs:
        best = (f"{r.monitor} {r.best_value:.4f} @{r.best_epoch}"
                if r.best_value is not None and r.monitor else "-")
        epochs = f"{r.epochs_completed}/{r.epochs}" if r.epochs else str(r.epochs_completed)
        try:
            shown = str(Path(r.path).relative_to(root)) if root else str(r.path)
        except ValueError:
            shown = str(r.path)
        color = colors.get(r.status, "white")
        # the global batch, and across how many worker processes it was split
        batch = ("-" if r.global_batch is None else str(r.global_batch)) + (f" ×{r.world_size}w" if r.world_size > 1 else "")
        extra = (_baseline_cell(r),) if show_baseline else ()
        table.add_row(shown or ".", r.name, r.task, r.started.replace("T", " ")[:16], epochs, batch, best, *extra,
                      f"[{color}]{r.status}[/]")
    console.print(table)


def _headline(figures: dict) -> str:
    """The figure a model's and its baselines' rows show: accuracy, else MAE (regression), else micro F1."""
    return next((k for k in ("accuracy", "mae", "micro_f1") if k in figures), "accuracy")


def _baseline_cell(r) -> str:
    """``0.7600 / majority 0.6500, LR 0.7800`` (test accuracy of the model, then of each baseline;
    regression: ``MAE`` of each baseline; multilabel: micro F1)."""
    if not r.baselines:
        return "-"
    short = {"majority": "majority", "logistic_regression": "LR", "gradient_boosting": "GB"}
    key = _headline(next(iter(r.baselines.values())))
    parts = [f"{short.get(k, k)} {v[key]:.4f}" for k, v in r.baselines.items() if v.get(key) is not None]
    prefix = "" if key == "accuracy" else f"{_LABELS.get(key, key)}: "
    return prefix + ("-" if r.test_accuracy is None else f"{r.test_accuracy:.4f}") + " / " + ", ".join(parts)


#: how the evaluate tables name the task figures
_LABELS = {"mae": "MAE", "rmse": "RMSE", "r2": "R²", "micro_f1": "micro F1", "macro_f1": "macro F1"}


def _rows_for_baselines(head: Table, report: dict, keys: tuple[str, ...]) -> None:
    for name, figures in (report.get("baselines") or {}).items():
        shown = ", ".join(f"{_LABELS[k]} {figures[k]:.4g}" for k in keys if figures.get(k) is not None)
        head.add_row(f"baseline: {name.replace('_', ' ')}", shown)


def _notes_and_files(report: dict) -> None:
    if report.get("baseline_note"):
        console.print(f"[yellow]note:[/] {report['baseline_note']}")
    if report.get("note"):
        console.print(f"[yellow]note:[/] {report['note']}")


def _files_line(report: dict) -> None:
    folder = str(Path(report["written_to"]).parent)
    console.print(f"written to {folder}: " + ", ".join(Path(f).name for f in report.get("files", [])))


def _figure(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def print_regression_evaluation(report: dict) -> None:
    """MAE, RMSE and R² (overall and per target), the baselines', and the largest errors."""
    head = Table(title=f"evaluation: {report['samples']} samples", show_header=False)
    head.add_row("data", report["data"])
    for key, label in (("mae", "MAE"), ("rmse", "RMSE"), ("r2", "R²")):
        head.add_row(label, _figure(report[key]))
    _rows_for_baselines(head, report, ("mae", "rmse", "r2"))
    head.add_row("model", report["model"])
    console.print(head)
    _notes_and_files(report)
    if len(report["per_target"]) > 1:
        table = Table(title="per target")
        for col in ("target", "MAE", "RMSE", "R²", "mean", "std"):
            table.add_column(col, justify="left" if col == "target" else "right")
        for t in report["per_target"]:
            table.add_row(t["target"], *(_figure(t[k]) for k in ("mae", "rmse", "r2", "mean", "std")))
        console.print(table)
    worst = report.get("worst_errors") or []
    if worst:
        shown = ", ".join(f"#{w['index']} {w['target']}: true {_figure(w['true'])}, predicted "
                          f"{_figure(w['predicted'])}" for w in worst[:3])
        console.print(f"largest errors: {shown}")
    _files_line(report)


def print_multilabel_evaluation(report: dict) -> None:
    """Micro and macro F1, subset accuracy, the baselines', and a per-label table with each threshold."""
    head = Table(title=f"evaluation: {report['samples']} samples", show_header=False)
    head.add_row("data", report["data"])
    head.add_row("micro F1", f"{report['micro_f1']:.4f}")
    head.add_row("macro F1", f"{report['macro_f1']:.4f}")
    head.add_row("subset accuracy", f"{report['subset_accuracy']:.4f}")
    head.add_row("loss", f"{report['loss']:.4f}")
    _rows_for_baselines(head, report, ("micro_f1", "macro_f1"))
    head.add_row("model", report["model"])
    console.print(head)
    _notes_and_files(report)
    table = Table(title="per label")
    for col in ("label", "threshold", "precision", "recall", "f1", "support", "predicted"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for row in report["per_label"]:
        table.add_row(row["label"], f"{row['threshold']:.2f}", f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                      f"{row['f1']:.3f}", str(row["support"]), str(row["predicted"]))
    table.add_section()
    for key, label in (("micro_avg", "micro avg"), ("macro_avg", "macro avg")):
        avg = report[key]
        table.add_row(label, "", f"{avg['precision']:.3f}", f"{avg['recall']:.3f}", f"{avg['f1']:.3f}", "", "")
    console.print(table)
    _files_line(report)


def print_evaluation(report: dict) -> None:
    """Headline numbers, a per-class table (with each class's most frequent confusion) and the files written;
    forecasts (``per_step``), regression and multilabel reports (``task``) have their own layouts."""
    if "per_step" in report:
        return print_forecast_evaluation(report)
    task = report.get("task", "classification")
    if task != "classification":
        {"regression": print_regression_evaluation, "multilabel": print_multilabel_evaluation}[task](report)
        return
    head = Table(title=f"evaluation: {report['samples']} samples", show_header=False)
    head.add_row("data", report["data"])
    head.add_row("accuracy", f"{report['accuracy']:.4f}")
    if report["top_k"] > 1 and len(report["class_names"]) > 2:  # top-2 of 2 classes is always 1
        head.add_row(f"top-{report['top_k']} accuracy", f"{report['top_k_accuracy']:.4f}")
    head.add_row("loss", f"{report['loss']:.4f}")
    head.add_row("macro F1", f"{report['macro_avg']['f1']:.4f}")
    head.add_row("weighted F1", f"{report['weighted_avg']['f1']:.4f}")
    if report.get("roc_auc") is not None:
        head.add_row("ROC AUC", f"{report['roc_auc']:.4f}")
    for name, figures in (report.get("baselines") or {}).items():
        head.add_row(f"baseline: {name.replace('_', ' ')}", f"accuracy {figures['accuracy']:.4f}")
    head.add_row("model", report["model"])
    console.print(head)
    if report.get("baseline_note"):
        console.print(f"[yellow]note:[/] {report['baseline_note']}")
    if report.get("note"):
        console.print(f"[yellow]note:[/] {report['note']}")
    names = report["class_names"]
    cm = report["confusion_matrix"]
    table = Table(title="per class")
    for col in ("class", "precision", "recall", "f1", "support", "most often taken for"):
        table.add_column(col, justify="left" if col in ("class", "most often taken for") else "right")
    for i, row in enumerate(report["per_class"]):
        off = [(n, j) for j, n in enumerate(cm[i]) if j != i and n]
        worst = max(off, default=None)
        confused = f"{names[worst[1]]} ({worst[0]}×)" if worst else ""
        table.add_row(row["class"], f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                      str(row["support"]), confused)
    table.add_section()
    for key, label in (("macro_avg", "macro avg"), ("weighted_avg", "weighted avg")):
        avg = report[key]
        table.add_row(label, f"{avg['precision']:.3f}", f"{avg['recall']:.3f}", f"{avg['f1']:.3f}",
                      str(report["samples"]), "")
    console.print(table)
    pairs = report.get("most_confused") or []
    if pairs:
        shown = ", ".join(f"{p['true']} → {p['predicted']} ({p['count']}×)" for p in pairs[:5])
        console.print(f"most confused (true → predicted): {shown}")
    folder = str(Path(report["written_to"]).parent)
    console.print(f"written to {folder}: " + ", ".join(Path(f).name for f in report.get("files", [])))


def print_forecast_evaluation(report: dict) -> None:
    """A forecast's MAE and RMSE, overall and per step, beside each baseline's on the same windows."""
    console.print(f"evaluation: {report['samples']} windows of {report['data']}")
    names = list(report["baselines"])
    table = Table(title="forecast errors (model and baselines on the same windows)")
    table.add_column("step")
    for who in ["model"] + names:
        for metric in ("MAE", "RMSE"):
            table.add_column(f"{who.replace('_', ' ')} {metric}", justify="right")

    def cells(r: dict) -> list[str]:
        return [f"{r['mae']:.4g}", f"{r['rmse']:.4g}"]

    for k, step in enumerate(report["per_step"]):
        table.add_row(step["step"], *cells(step), *[c for n in names for c in cells(report["baselines"][n]["per_step"][k])])
    table.add_section()
    table.add_row("all", *cells(report), *[c for n in names for c in cells(report["baselines"][n])])
    console.print(table)
    for key in ("baseline_note", "note"):
        if report.get(key):
            console.print(f"[yellow]note:[/] {report[key]}")
    folder = str(Path(report["written_to"]).parent)
    console.print(f"written to {folder}: " + ", ".join(Path(f).name for f in report.get("files", [])))


def _predictions_table(result) -> Table:
    from aimodel.inference.answers import ClassAnswer

    answer = result.answer or ClassAnswer()  # the task's columns: class, a value, a label set
    table = Table(title=f"model: {result.checkpoint.model_path}")
    table.add_column("input", overflow="fold")
    columns = answer.table_columns()
    for col in columns:
        table.add_column(col, overflow="fold")
    for p in result.predictions:
        if p.error:
            cells = ["[red]error[/]", *[""] * (len(columns) - 2), p.error] if len(columns) > 1 else \
                [f"[red]error[/] {p.error}"]
            table.add_row(p.input, *cells)
        else:
            table.add_row(p.input, *answer.table_cells(p))
    return table


def print_predictions(result) -> None:
    console.print(_forecast_table(result) if _is_forecast(result) else _predictions_table(result))


def _is_forecast(result) -> bool:
    from aimodel.inference.forecast import ForecastResult

    return isinstance(result, ForecastResult)


def _forecast_table(result) -> Table:
    """A forecasting model's predictions: one row per file and step."""
    table = Table(title=f"model: {result.checkpoint.model_path}")
    for col in ("input", "step", "time", "value"):
        table.add_column(col, overflow="fold", justify="right" if col == "value" else "left")
    for p in result.predictions:
        if p.error:
            table.add_row(p.input, "[red]error[/]", "", p.error)
        for k, (t, v) in enumerate(zip(p.times, p.values), 1):
            table.add_row(p.input if k == 1 else "", f"t+{k}", t, f"{v:.6g}")
    return table


def format_predictions(result, fmt: str) -> str:
    """The predictions as ``json``, ``csv`` or a plain-text ``table`` (for --output)."""
    import io
    import json

    from aimodel.inference.output import to_csv, to_json

    if _is_forecast(result):
        to_json, to_csv = type(result).to_json, type(result).to_csv  # noqa: N806  (one row per forecast step)
    if fmt == "json":
        return json.dumps(to_json(result), indent=2) + "\n"
    if fmt == "csv":
        return to_csv(result)
    buf = io.StringIO()
    table = _forecast_table(result) if _is_forecast(result) else _predictions_table(result)
    Console(file=buf, width=160, color_system=None, force_terminal=False).print(table)
    return buf.getvalue()


def print_data_summary(summary: dict) -> None:
    """``aimodel data inspect``: splits, class balance, input, skipped files."""
    head = Table(title=f"dataset: {summary.get('source') or ''} ({summary['kind']})", show_header=False)
    head.add_row("input shape", str(tuple(summary["input_shape"])) if summary["input_shape"]
                 else "one string per sample")
    head.add_row("input dtype", summary["input_dtype"])
    task = summary.get("task") or "classification"
    head.add_row("task", task)
    head.add_row({"regression": "targets", "multilabel": "labels"}.get(task, "classes"), str(len(summary["classes"])))
    for name, split in summary["splits"].items():
        head.add_row(f"{name} samples", f"{split['samples']:,}")
    if summary.get("test_from"):
        head.add_row("test split from", summary["test_from"])
    head.add_row("skipped files", str(summary["skipped_count"]))
    if summary.get("ignored_count"):
        head.add_row("ignored files (not a data file type)", str(summary["ignored_count"]))
    if summary.get("image_cache"):
        head.add_row("image cache (training)", summary["image_cache"]["decision"])
    console.print(head)
    {"regression": _print_targets, "multilabel": _print_label_frequencies}.get(task, _print_class_balance)(summary)
    for item in summary.get("skipped", [])[:20]:
        console.print(f"[yellow]skipped[/] {item['file']}: {item['reason']}")
    if summary["skipped_count"] > 20:
        console.print(f"... and {summary['skipped_count'] - 20} more")
    if "grid" in summary:
        console.print(f"written: {summary['grid']['file']} ({summary['grid']['images']} images)")
    if "histogram" in summary:
        console.print(f"written: {summary['histogram']['file']} ({summary['histogram']['targets']} target(s))")
    if "series_plot" in summary:
        console.print(f"written: {summary['series_plot']['file']} ({summary['series_plot']['rows']} steps)")
    if summary.get("dropped_rows"):
        console.print(f"rows without a label (left out): {summary['dropped_rows']}")
    if summary.get("columns"):
        _print_columns(summary["columns"])


def _print_class_balance(summary: dict) -> None:
    """Classification: each class's count and share per split."""
    table = Table(title="class balance")
    table.add_column("class", overflow="fold")
    splits = list(summary["splits"])
    for name in splits:
        table.add_column(name, justify="right")
    for name in splits:
        table.add_column(f"{name} %", justify="right")
    for cls in summary["classes"]:
        counts = [summary["splits"][s]["per_class"][cls] for s in splits]
        shares = [100.0 * c / max(1, summary["splits"][s]["samples"]) for c, s in zip(counts, splits)]
        table.add_row(cls, *[f"{c:,}" for c in counts], *[f"{p:.1f}" for p in shares])
    console.print(table)


def _print_label_frequencies(summary: dict) -> None:
    """Multilabel: how many rows of each split carry each label (a row counts once per label), and none."""
    table = Table(title="label frequencies (rows with the label)")
    table.add_column("label", overflow="fold")
    splits = list(summary["splits"])
    for name in splits:
        table.add_column(name, justify="right")
    for name in splits:
        table.add_column(f"{name} %", justify="right")
    rows = [(label, [summary["splits"][s]["per_label"][label] for s in splits]) for label in summary["classes"]]
    rows.append(("(no label)", [summary["splits"][s]["no_label"] for s in splits]))
    for label, counts in rows:
        shares = [100.0 * c / max(1, summary["splits"][s]["samples"]) for c, s in zip(counts, splits)]
        table.add_row(label, *[f"{c:,}" for c in counts], *[f"{p:.1f}" for p in shares])
    console.print(table)


def _print_targets(summary: dict) -> None:
    """Regression: each target's distribution per split (mean, std, min, quantiles, max)."""
    table = Table(title="target distribution")
    quantiles = ("5%", "25%", "50%", "75%", "95%")
    for col in ("target", "split", "mean", "std", "min", *quantiles, "max"):
        table.add_column(col, justify="left" if col in ("target", "split") else "right")
    for target in summary["classes"]:
        for split, figures in summary["splits"].items():
            t = figures["targets"][target]
            q = t.get("quantiles", {})
            table.add_row(target, split, *[f"{t[k]:.4g}" for k in ("mean", "std", "min")],
                          *[f"{q[k]:.4g}" if k in q else "" for k in quantiles], f"{t['max']:.4g}")
    console.print(table)


def _print_columns(columns: list[dict]) -> None:
    """``data inspect`` on a CSV: one row per column, then its notes."""
    table = Table(title="columns")
    for col in ("column", "type", "missing", "distinct", "min", "median", "max"):
        table.add_column(col, justify="left" if col in ("column", "type") else "right")
    for c in columns:
        stats = [f"{c[k]:.4g}" if k in c else "" for k in ("min", "median", "max")]
        table.add_row(c["name"], c["type"], str(c["missing"]), str(c["distinct"]), *stats)
    console.print(table)
    for c in columns:
        if c.get("tokens"):
            shown = ", ".join(f"{k} {v}" for k, v in c["tokens"].items())
            console.print(f"{c['name']}: tokens per text {shown}; sequence_length: {c['sequence_length_95']} "
                          f"keeps 95% of texts whole")
        if c.get("note"):
            console.print(f"[yellow]note:[/] {c['name']}: {c['note']}")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def print_model_summary(summary) -> None:
    table = Table(title=f"{summary.name}: {summary.architecture}")
    table.add_column("layer")
    table.add_column("type")
    table.add_column("output shape")
    table.add_column("params", justify="right")
    for row in summary.layers:
        table.add_row(row.name, row.type, row.output_shape, f"{row.params:,}")
    console.print(table)
    spec = summary.input
    shape = "×".join(map(str, spec["shape"])) or "one string"
    outputs = {"regression": "target(s)", "multilabel": "labels"}.get(summary.task, "classes")
    console.print(f"task: {summary.task}")
    console.print(f"input: {spec['kind']} {shape}, {len(spec['class_names'])} {outputs} ({summary.input_source})")
    console.print(
        f"parameters: {summary.total_params:,} ({summary.trainable_params:,} trainable, "
        f"{summary.non_trainable_params:,} not trainable)"
    )
    console.print(f"estimated size: {_size(summary.size_bytes)} of weights (the saved .keras file is about this)")
    for note in summary.notes:
        console.print(f"note: {note}")
