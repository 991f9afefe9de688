"""``aimodel tune`` and ``aimodel cv``: hyperparameter search and k-fold cross-validation."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from aimodel.cli_common import CONTEXT, import_tensorflow, set_option


def _fmt(value, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _test_column(task: str) -> str:
    """The trials table's test column: ``test_accuracy``, or the task's first metric (``test_mae``...)."""
    from aimodel.search.tune import test_columns

    return test_columns(task)[0]


def _trials_table(records, objective: str, direction: str, task: str = "classification"):
    from rich.table import Table

    from aimodel.search.tune import test_figure

    column = _test_column(task)
    scored = [r for r in records if r.objective is not None]
    best = (min if direction == "min" else max)(scored, key=lambda r: r.objective) if scored else None
    table = Table(title=f"trials ({objective}, {'lower' if direction == 'min' else 'higher'} is better)")
    for col in ("trial", "values", objective, "test acc" if column == "test_accuracy" else column, "epochs",
                "seconds", "status"):
        table.add_column(col)
    for r in records:
        values = ", ".join(f"{k.rsplit('.', 1)[-1]}={json.dumps(v)}" for k, v in r.values.items())
        style = "bold green" if best is not None and r is best else None
        table.add_row(r.trial_id, values, _fmt(r.objective), _fmt(test_figure(r, column)), _fmt(r.epochs),
                      _fmt(r.seconds, 3), r.status if r.status == "completed" else f"{r.status}: {r.message[:80]}",
                      style=style)
    return table


@click.command("tune", context_settings=CONTEXT)
@click.argument("config", type=click.Path(path_type=Path), required=False)
@set_option
@click.option("--max-trials", type=click.IntRange(min=1), help="Override search.max_trials.")
@click.option("--run-dir", type=click.Path(path_type=Path), help="New or empty folder for the search "
              "(default: runs/<name>/tune-<n>).")
@click.option("--runs-root", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Continue the search in DIR (finished trials are not run again).")
def tune_command(config, overrides, max_trials, run_dir, runs_root, resume_dir) -> None:
    """Search hyperparameters as the config's `search:` section says; every trial is a run.

    \b
      aimodel tune configs/quickstart_search.yaml
      aimodel tune --resume runs/quickstart_search/tune-1
    """
    from rich.live import Live

    from aimodel.config import load_config

    if (config is None) == (resume_dir is None):
        raise click.UsageError("pass either CONFIG (a new search) or --resume DIR (continue a search)")
    cfg = load_config(config, overrides) if config is not None else None
    if cfg is not None:
        from aimodel.search.space import check_space

        check_space(cfg, str(config))  # before TensorFlow loads: a bad space is reported at once
    import_tensorflow()
    from aimodel.cli_render import console
    from aimodel.search.tune import resume_tune, tune

    search = cfg.search if cfg is not None else None
    task = cfg.task if cfg is not None else "classification"
    objective = search.objective if search else "objective"
    direction = search.direction if search else "max"
    # The table appears with the first finished trial: a search refused at the start (a folder in use,
    # bad data) prints its one-line error alone, not after an empty table.
    live = Live(console=console, auto_refresh=False)
    shown = []

    def on_trial(record, records):
        live.update(_trials_table(records, objective, direction, task), refresh=bool(shown))
        if not shown:
            live.start(refresh=True)
            shown.append(True)

    try:
        if resume_dir is not None:
            result = resume_tune(resume_dir, on_trial=on_trial)
        else:
            result = tune(cfg, source=str(config), runs_root=runs_root, run_dir=run_dir, max_trials=max_trials,
                          on_trial=on_trial)
        live.update(_trials_table(result.trials, result.objective, result.direction, result.task),
                    refresh=bool(shown))
    finally:
        live.stop()
    if not shown:
        console.print(live.renderable)
    console.print()
    best = result.best
    if best is None:
        raise click.ClickException(f"no trial finished with a {result.objective} value; see {result.tune_dir}/trials.csv")
    from aimodel.search.tune import test_figure

    column = _test_column(result.task)
    click.echo(f"best: trial {best.trial_id}, {result.objective} {best.objective:.4g}, "
               f"{column.replace('_', ' ')} {_fmt(test_figure(best, column))} ({best.run_dirs[0]})")
    ended = [r.status for r in result.trials]
    if ended.count("failed") or ended.count("invalid"):
        click.echo(f"{ended.count('completed')} of {len(ended)} trials completed ({ended.count('failed')} failed, "
                   f"{ended.count('invalid')} invalid); the reasons are in {result.tune_dir / 'trials.csv'}")
    click.echo(f"search: {result.tune_dir} (trials.csv, summary.json, trials.png); "
               f"train the best config with: aimodel train {shlex.quote(str(result.tune_dir / 'best.yaml'))}")


@click.command("cv", context_settings=CONTEXT)
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--folds", "-k", type=int, required=True,
              help="Number of folds (≥ 2; stratified for classification).")
@set_option
@click.option("--run-dir", type=click.Path(path_type=Path), help="New or empty folder (default: runs/<name>/cv-<n>).")
@click.option("--runs-root", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print cv.json instead of a table.")
def cv_command(config, folds, overrides, run_dir, runs_root, as_json) -> None:
    """K-fold cross-validation of CONFIG: one run per fold, mean ± std of each metric (the task's own).

    \b
      aimodel cv configs/iris_mlp.yaml --folds 5
    """
    from aimodel.config import load_config
    from aimodel.errors import ConfigError

    cfg = load_config(config, overrides)
    if folds < 2:
        raise ConfigError(f"--folds: cross-validation needs at least 2 folds, got {folds}")
    import_tensorflow()
    from rich.table import Table

    from aimodel.cli_render import console
    from aimodel.search.cv import cross_validate, metrics_for
    from aimodel.tasks import task_of

    metrics = metrics_for(cfg.task)
    headline = task_of(cfg.task).metrics[0]

    def on_fold(row):
        if as_json:
            return
        if row["status"] == "failed":
            console.print(f"fold {row['fold']}/{folds}: failed: {row['message']}", markup=False, soft_wrap=True)
        else:
            console.print(f"fold {row['fold']}/{folds}: val_{headline} {_fmt(row[f'val_{headline}'])}, "
                          f"test_{headline} {_fmt(row[f'test_{headline}'])} ({row['seconds']:.1f} s)")

    result = cross_validate(cfg, folds, runs_root=runs_root, run_dir=run_dir, on_fold=on_fold)
    if as_json:
        click.echo((result.cv_dir / "cv.json").read_text())
        return
    table = Table(title=f"{folds}-fold cross-validation of {cfg.name}")
    for col in ("metric", "mean ± std", *(f"fold {r['fold']}" for r in result.folds)):
        table.add_column(col)
    for m in metrics:
        s = result.summary[m]
        table.add_row(m, "–" if s["mean"] is None else f"{s['mean']:.4f} ± {s['std']:.4f}",
                      *(_fmt(r[m]) for r in result.folds))
    console.print(table)
    failed = [r["fold"] for r in result.folds if r["status"] == "failed"]
    if failed:
        click.echo(f"{len(failed)} of {folds} folds failed (fold {', '.join(map(str, failed))}; reasons in cv.json); "
                   "the mean ± std is over the others")
    click.echo(f"written: {result.cv_dir / 'cv.json'}")
