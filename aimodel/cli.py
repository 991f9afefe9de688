"""The ``aimodel`` command line: parse, call the library, print.

TensorFlow is imported only by commands that need it, so ``aimodel --help`` and
``aimodel config ...`` start instantly.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import click

from aimodel import __version__
from aimodel.cli_common import CONTEXT, import_tensorflow, is_debug, set_option
from aimodel.errors import AimodelError, storage_error



def _setup_logging(debug: bool) -> None:
    import logging

    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not debug:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import warnings

        warnings.filterwarnings("ignore", module=r"(keras|tensorflow)(\.|$)")


def _exit_now(code: int) -> None:
    """End the process without Python's interpreter shutdown.

    After a multi-worker run fails (a peer killed), TensorFlow's collective runtime is half torn
    down: the finalizers that shutdown would run print a traceback (``Exception ignored in:
    <function Pool.__del__>`` ... ``OSError: [Errno 9] Bad file descriptor``) and C++ errors
    (``BaseCollectiveExecutor::StartAbort``, ``Aborting RingReduce``) after the one-line message.
    Every file aimodel writes is already complete (atomic writes, fsynced); only the standard
    streams and log handlers need flushing. ``--debug`` raises instead and keeps all that detail.
    """
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


class AimodelGroup(click.Group):
    """Turns library errors into a one-paragraph message and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except AimodelError as exc:
            if is_debug(ctx):
                raise
            click.secho(f"error: {exc}", fg="red", err=True)
            if getattr(exc, "runtime_started", False):
                _exit_now(exc.exit_code)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            if is_debug(ctx):
                raise
            click.secho("interrupted", fg="yellow", err=True)
            ctx.exit(130)
        except Exception as exc:  # a bug or an unforeseen failure: still no traceback by default
            if is_debug(ctx):
                raise
            storage = storage_error(exc) or storage_error(exc.__cause__ or exc.__context__)
            if storage is not None:  # disk full, read-only, no permission: the user's machine, not a bug
                click.secho(f"error: {storage}", fg="red", err=True)
                ctx.exit(storage.exit_code)
            click.secho(
                f"error: unexpected {type(exc).__name__}: {exc}\n"
                "Run again with --debug for the full traceback, and please report it.",
                fg="red",
                err=True,
            )
            ctx.exit(2)


@click.group(cls=AimodelGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="aimodel")
@click.option("--debug", is_flag=True, help="Show tracebacks and TensorFlow's log output.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Train, evaluate and use Keras models described by a YAML file.

    \b
      aimodel train configs/quickstart.yaml
      aimodel evaluate runs/quickstart/1
      aimodel predict examples/digit_7.png
    """
    ctx.obj = {"debug": debug}
    _setup_logging(debug)




# --- config -------------------------------------------------------------------------------------


@main.group("config", context_settings=CONTEXT)
def config_group() -> None:
    """Inspect and check config files (no TensorFlow needed)."""


@config_group.command("show")
@click.argument("config", type=click.Path(path_type=Path))
@set_option
def config_show(config: Path, overrides: tuple[str, ...]) -> None:
    """Print the fully resolved CONFIG, defaults filled in."""
    from aimodel.config import dump_config, load_config

    click.echo(dump_config(load_config(config, overrides)), nl=False)


@config_group.command("validate")
@click.argument("config", type=click.Path(path_type=Path))
@set_option
def config_validate(config: Path, overrides: tuple[str, ...]) -> None:
    """Check CONFIG; exit 1 listing every problem."""
    from aimodel.config import load_config

    cfg = load_config(config, overrides)
    click.echo(f"{config}: valid ({cfg.dataset.name} dataset, {cfg.model.architecture} model)")


@config_group.command("schema")
def config_schema() -> None:
    """Print the config's JSON Schema (for editor completion)."""
    from aimodel.config import Config

    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "aimodel config"
    click.echo(json.dumps(schema, indent=2))


@config_group.command("reference")
def config_reference() -> None:
    """Print the Markdown reference of every config key (docs/config.md is this output)."""
    from aimodel.config.reference import config_reference as reference

    click.echo(reference(), nl=False)


# --- train --------------------------------------------------------------------------------------


@main.command()
@click.argument("config", type=click.Path(path_type=Path), required=False)
@set_option
@click.option("--run-dir", type=click.Path(path_type=Path), help="New or empty directory for this run "
              "(default: runs/<name>/<n>).")
@click.option("--runs-root", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
              help="Parent of numbered run directories.")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), metavar="RUN_DIR",
              help="Continue RUN_DIR from its last completed epoch (instead of CONFIG); "
              "--set training.epochs=N extends a finished run.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the run directory.")
@click.option("--workers", metavar="HOST:PORT,...", help="Train across these worker processes (the same list on "
              "every worker; rank 0 is the chief and writes the run). Sets TF_CONFIG; see docs/distributed.md.")
@click.option("--rank", type=int, metavar="N", help="With --workers: this worker's position in the list.")
def train(config: Path | None, overrides: tuple[str, ...], run_dir: Path | None, runs_root: Path,
          resume_dir: Path | None, quiet: bool, workers: str | None, rank: int | None) -> None:
    """Train the model described by CONFIG and save it to a new run directory.

    \b
      aimodel train configs/quickstart.yaml
      aimodel train --resume runs/quickstart/1
      aimodel train --resume runs/quickstart/1 --set training.epochs=50
      aimodel train configs/quickstart.yaml --workers host1:2222,host2:2222 --rank 0
    """
    from aimodel.config import load_config

    if (config is None) == (resume_dir is None):
        raise click.UsageError("pass either CONFIG (a new run) or --resume RUN_DIR (continue a run)")
    if resume_dir is not None and run_dir is not None:
        raise click.UsageError("--run-dir is for new runs; --resume continues in RUN_DIR itself")
    cfg = load_config(config, overrides) if config is not None else None
    if rank is not None and workers is None:
        raise click.UsageError("--rank goes with --workers HOST:PORT,... (the cluster it is a rank in)")
    if workers is not None:
        from aimodel.training.distribute import TF_CONFIG, parse_workers

        from aimodel.errors import ConfigError

        cluster = parse_workers(workers, rank)
        run_config = resume_dir / "config.yaml" if resume_dir is not None else None
        setting = (cfg.training.distribute if cfg is not None else
                   load_config(run_config, overrides).training.distribute if run_config.is_file() else None)
        if setting in ("none", "mirrored"):
            raise ConfigError(f"--workers trains across processes, but training.distribute is {setting!r}; "
                              "use --set training.distribute=multi_worker (or auto)")
        os.environ[TF_CONFIG] = cluster.tf_config()  # read when the strategy starts, as for TFJob and Ray
    import_tensorflow()
    from aimodel.cli_render import make_reporter, print_train_summary
    from aimodel.training.runner import resume as resume_training
    from aimodel.training.runner import train as run_training

    reporter = make_reporter(quiet)
    if resume_dir is not None:
        result = resume_training(resume_dir, overrides=overrides, reporter=reporter)
    else:
        result = run_training(cfg, runs_root=runs_root, run_dir=run_dir, reporter=reporter)
    if result.rank:
        click.echo(f"worker {result.rank} of {result.world_size}: trained {result.epochs} epochs; the chief "
                   "(rank 0) wrote the run directory")
    elif quiet:
        click.echo(str(result.run_dir))
    else:
        print_train_summary(result)


# --- runs ---------------------------------------------------------------------------------------


@main.group("runs", context_settings=CONTEXT)
def runs_group() -> None:
    """Inspect past training runs (no TensorFlow needed)."""


@runs_group.command("list")
@click.argument("directory", type=click.Path(path_type=Path), default=Path("runs"), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def runs_list(directory: Path, as_json: bool) -> None:
    """Show the runs under DIRECTORY (default: runs): name, date, epochs, best metric, status."""
    from aimodel.training.records import list_runs

    from aimodel.inference.exported import stale_exports

    runs = list_runs(directory)
    stale = {str(r.path): stale_exports(Path(r.path)) for r in runs}
    if as_json:
        click.echo(json.dumps([dict(r.to_json(), stale_exports=stale[str(r.path)]) for r in runs], indent=2))
    elif not runs:
        click.echo(f"no runs under {directory}/ (train one with `aimodel train CONFIG`)")
    else:
        from aimodel.cli_render import print_runs

        print_runs(runs, directory)
        for line in (line for lines in stale.values() for line in lines):
            click.secho(f"warning: {line}", fg="yellow", err=True)


# --- data ---------------------------------------------------------------------------------------


@main.group("data", context_settings=CONTEXT)
def data_group() -> None:
    """Look at a config's dataset before training."""


@data_group.command("inspect")
@click.argument("config", type=click.Path(path_type=Path))
@set_option
@click.option("--grid", type=click.Path(path_type=Path), metavar="PNG",
              help="Write a labelled grid of training examples to this PNG file.")
@click.option("--augmented", is_flag=True, help="Draw the grid's images as training sees them (dataset.augment).")
@click.option("--histogram", type=click.Path(path_type=Path), metavar="PNG",
              help="task: regression: write a histogram of each target (training split) to this PNG file.")
@click.option("--series", "series_png", type=click.Path(path_type=Path), metavar="PNG",
              help="dataset.name: timeseries: plot the series, its training, validation and test parts shaded.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def data_inspect(config: Path, overrides: tuple[str, ...], grid: Path | None, augmented: bool,
                 histogram: Path | None, series_png: Path | None, as_json: bool) -> None:
    """Per-split counts, class balance (regression: target distribution; multilabel: label frequencies), input
    shape and dtype, skipped files of CONFIG's dataset.

    \b
      aimodel data inspect configs/pets.yaml
      aimodel data inspect configs/pets.yaml --grid samples.png --augmented
      aimodel data inspect prices.yaml --histogram targets.png
      aimodel data inspect configs/co2_forecast.yaml --series co2.png
    """
    from aimodel.config import load_config

    cfg = load_config(config, overrides)
    if augmented and grid is None:
        raise click.UsageError("--augmented changes the --grid picture; pass --grid FILE.png too")
    if augmented:
        import_tensorflow()
    from aimodel.data.inspect import inspect_data, write_grid, write_histogram, write_series_plot

    bundle, summary = inspect_data(cfg)
    if grid is not None:
        summary["grid"] = {"file": str(grid), "images": write_grid(bundle, cfg, grid, augmented=augmented)}
    if histogram is not None:
        summary["histogram"] = {"file": str(histogram), "targets": write_histogram(bundle, cfg, histogram)}
    if series_png is not None:
        summary["series_plot"] = {"file": str(series_png), **write_series_plot(cfg, series_png)}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        from aimodel.cli_render import print_data_summary

        print_data_summary(summary)


# --- model --------------------------------------------------------------------------------------


@main.group("model", context_settings=CONTEXT)
def model_group() -> None:
    """Inspect the network a config describes."""


@model_group.command("summary")
@click.argument("config", type=click.Path(path_type=Path))
@set_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def model_summary(config: Path, overrides: tuple[str, ...], as_json: bool) -> None:
    """Build CONFIG's model without training: layers, parameters, size.

    \b
    What if? aimodel model summary configs/mnist_cnn.yaml --set model.dense=[64]
    """
    from aimodel.config import load_config

    cfg = load_config(config, overrides)
    import_tensorflow()
    from aimodel.models.summary import summarize

    summary = summarize(cfg)
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
    else:
        from aimodel.cli_render import print_model_summary

        print_model_summary(summary)


# --- evaluate -----------------------------------------------------------------------------------


@main.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--split", type=click.Choice(["test", "val", "train"]), default="test", show_default=True,
              help="Which split of the run's data (or of --data) to score.")
@click.option("--data", type=click.Path(path_type=Path), metavar="CONFIG_OR_PATH",
              help="Score another dataset with the same classes: a config file (its dataset section), an "
                   ".npz (x, y; or x_test, y_test), a folder of class folders (FOLDER/<class>/<files>) or a "
                   "CSV file with a label column.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the reports [default: the run directory; <run>/evaluation-<name> for another "
                   "split or --data].")
@click.option("--label", metavar="NAME", help="For --data FILE.csv: the column with the class or label set "
              "(regression: a one-target model's target) [default: the run's dataset.label, else 'label'].")
@click.option("--top-k", "-k", type=click.IntRange(min=1), default=3, show_default=True,
              help="k of the top-k accuracy.")
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=256, show_default=True,
              help="Samples per model call.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def evaluate(checkpoint: Path, split: str, data: Path | None, out: Path | None, label: str | None, top_k: int,
             batch_size: int, as_json: bool) -> None:
    """Score CHECKPOINT (a run directory or a model file in one) and write its reports.

    \b
    Writes evaluation.json, per_class.csv, confusion_matrix.csv/.png, errors.csv (every
    misclassified sample, most confident first) and, for image data, errors.png (a grid of the
    most confidently wrong examples). Regression: per_target.csv, errors.csv (largest error
    first), predicted_vs_true.png and residuals.png; multilabel: per_label.csv and errors.csv.
    """
    import_tensorflow()
    from aimodel.evaluation.evaluate import evaluate as run_evaluate

    report = run_evaluate(checkpoint, split=split, data=data, out=out, top_k=top_k, batch_size=batch_size,
                          label=label)
    if report.get("stale"):
        click.secho(f"warning: {report['stale']}", fg="yellow", err=True)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        from aimodel.cli_render import print_evaluation

        print_evaluation(report)


# --- predict ------------------------------------------------------------------------------------


@main.command()
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--model", "-m", type=click.Path(path_type=Path),
              help="Run directory or model file (default: best model of the latest run in ./runs).")
@click.option("--text", "texts", multiple=True, metavar="TEXT", help="A string to classify, for text models "
              "(repeatable).")
@click.option("--top-k", "-k", type=click.IntRange(min=1), default=3, show_default=True, help="Classes to list.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default=None,
              help="Output format [default: from --output's suffix (.json, .csv), else table].")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the predictions to this file (atomically) instead of the terminal.")
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=64, show_default=True,
              help="Inputs read and sent to the model at once.")
@click.option("--column", metavar="NAME", help="For text models reading a CSV: the column with the text.")
@click.option("--polarity", type=click.Choice(["auto", "keep", "invert"]), default="auto", show_default=True,
              help="auto: invert dark-ink-on-light-paper images for models trained on light-on-dark digits.")
@click.option("--crop/--no-crop", default=True, show_default=True,
              help="For digit-like models: remove the paper and centre the strokes like the training images.")
def predict(inputs: tuple[Path, ...], model: Path | None, texts: tuple[str, ...], top_k: int, fmt: str | None,
            as_json: bool, output: Path | None, batch_size: int, column: str | None, polarity: str,
            crop: bool) -> None:
    """Predict INPUTS with a trained model: a class, a value (regression) or a label set (multilabel).

    \b
    INPUTS: image files, folders (searched recursively), glob patterns ('photos/**/*.jpg');
    for text models .txt files, CSV files (one prediction per row) or --text "a sentence";
    for tabular models CSV files (the predictions are appended as columns).
    Exit code 0 when every input was predicted, 1 when any failed (each gets its own error).
    """
    if not inputs and not texts:
        raise click.UsageError("give at least one INPUT (file, folder or glob) or --text")
    fmt = fmt or ("json" if as_json else {".json": "json", ".csv": "csv"}.get(output.suffix.lower(), "table")
                  if output else "table")
    if output is not None and any(output.resolve() == Path(i).resolve() for i in inputs):
        raise click.UsageError(f"--output {output} is one of the inputs; choose another file")
    from aimodel.inference.checkpoint import needs_tensorflow

    if needs_tensorflow(model):  # .tflite and .onnx files predict without TensorFlow
        import_tensorflow()
    from aimodel.inference.predict import predict as run_predict

    result = run_predict(inputs, model, texts=texts, top_k=top_k, polarity=polarity, crop=crop,
                         batch_size=batch_size, column=column)
    if result.checkpoint.stale:
        click.secho(f"warning: {result.checkpoint.stale}", fg="yellow", err=True)
    from aimodel.cli_render import format_predictions, print_predictions

    if output is not None:
        from aimodel.fileio import atomic_write_text

        atomic_write_text(output, format_predictions(result, fmt))
        click.echo(f"{len(result.predictions) - result.failed} prediction(s) written to {output}")
    elif fmt == "table":
        print_predictions(result)
    else:
        click.echo(format_predictions(result, fmt), nl=False)
    if not result.ok:
        if fmt == "table" or output is not None:
            for p in result.predictions:
                if p.error:
                    click.secho(f"error: {p.error}", fg="red", err=True)
        click.secho(f"{result.failed} of {len(result.predictions)} input(s) could not be predicted",
                    fg="red", err=True)
        raise SystemExit(1)


# Commands that live in their own modules (see docs/contributing.md).
from aimodel.cli_export import export  # noqa: E402
from aimodel.cli_serve import serve  # noqa: E402
from aimodel.cli_tune import cv_command, tune_command  # noqa: E402

main.add_command(export)
main.add_command(tune_command)
main.add_command(cv_command)
main.add_command(serve)


def run() -> None:
    """Console-script entry point."""
    try:
        main(prog_name="aimodel")
    except Exception:  # only reached with --debug
        traceback.print_exc()
        sys.exit(1)
