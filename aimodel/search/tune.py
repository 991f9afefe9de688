"""``aimodel tune``: a hyperparameter search whose trials are ordinary aimodel runs.

A search directory (``runs/<name>/tune-<n>``) holds::

    search.yaml      the config the search started from (with its search section)
    oracle/          KerasTuner's oracle state (which values were tried, what they scored)
    trials/<id>/     one aimodel run directory per trial (evaluate, predict, resume it as any run)
    trials.csv       one row per ended trial: values, objective, test metrics, epochs, seconds; a failed
                     or invalid trial has its reason in ``message``
    summary.json     the best trial and totals
    best.yaml        the best trial's complete config, without the search section
    trials.png       the objective per trial and each searched value against it

KerasTuner's oracles choose the values (random, Bayesian optimisation,
Hyperband); aimodel trains, scores and records. Data is loaded once per search.
A search killed at any point continues with ``aimodel tune --resume DIR``:
finished (and failed) trials are not run again, and the trial that was cut
resumes from its last completed epoch (its run directory is resumed like any run).

A trial that cannot train (its loss became NaN, memory ran out, its model could
not be built) is recorded as ``failed`` with the reason and the search goes on;
only an interruption (Ctrl-C) or a machine problem (disk full) ends it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from aimodel.config import Config, dump_config, load_config
from aimodel.errors import CheckpointError, ConfigError
from aimodel.fileio import atomic_write, atomic_write_json, atomic_write_text, read_json_object
from aimodel.search.process import failure_reason, one_process, only_user
from aimodel.search.space import base_dict, check_space, decode, hyperparameters, trial_config
from aimodel.tasks import task_of
from aimodel.training.rundir import claim_dir

log = logging.getLogger(__name__)

TUNER_ID = "aimodel"


@dataclass
class TrialRecord:
    """One ended trial, as a row of trials.csv."""

    trial_id: str
    status: str  # completed | failed (it could not train) | invalid (its values make no valid config)
    values: dict[str, Any]
    objective: Optional[float] = None
    test_accuracy: Optional[float] = None
    test_loss: Optional[float] = None
    #: regression and multilabel: the task's test metrics (``{"mae": ..., "rmse": ..., "r2": ...}``)
    test: dict[str, Optional[float]] = field(default_factory=dict)
    epochs: Optional[int] = None
    seconds: Optional[float] = None
    run_dirs: list[str] = field(default_factory=list)
    message: str = ""


@dataclass
class TuneResult:
    tune_dir: Path
    trials: list[TrialRecord]
    best: Optional[TrialRecord]
    objective: str
    direction: str
    seconds: float
    task: str = "classification"


def tune(cfg: Config, *, source: str = "<config>", runs_root: str | Path = "runs", run_dir: str | Path | None = None,
         max_trials: Optional[int] = None, on_trial: Optional[Callable[[TrialRecord, list], None]] = None) -> TuneResult:
    """Run the search ``cfg.search`` describes in a new search directory.

    Args:
        cfg: a validated config with a ``search`` section.
        max_trials: overrides ``search.max_trials``.
        on_trial: called after each trial with its record and all records so far (the CLI's table).

    Raises:
        ConfigError: the search section is missing, or its space can produce an invalid config
            (checked before anything trains).
    """
    check_space(cfg, source)
    cfg = one_process(cfg, "tune")
    if max_trials is not None:
        cfg = cfg.model_copy(update={"search": cfg.search.model_copy(update={"max_trials": max_trials})})
    path = claim_dir(Path(runs_root) / cfg.name, "tune", run_dir, lambda path: ConfigError(
        f"--run-dir {path}: not empty; give a new folder, or --resume {path} to continue it"))
    with only_user(path, "tune"):  # held before search.yaml exists, so no --resume can start in between
        atomic_write_text(path / "search.yaml", dump_config(cfg))
        return _search(cfg, path, [], on_trial)


def resume_tune(tune_dir: str | Path, *, on_trial=None) -> TuneResult:
    """Continue a search after an interruption (kill -9 included) without repeating finished trials."""
    path = Path(tune_dir)
    if not (path / "search.yaml").is_file():
        raise CheckpointError(f"{path}: not a search directory (no search.yaml); pass one made by `aimodel tune`")
    cfg = one_process(load_config(path / "search.yaml"), "tune")
    # Before anything is read or deleted: a trial run cut before its first epoch is removed and
    # started again, which must never happen to the trial another tune is training right now.
    with only_user(path, "tune"):
        return _search(cfg, path, read_trials(path), on_trial)


def _oracle(cfg: Config, path: Path, resuming: bool):
    import keras_tuner as kt

    from aimodel.compat import set_oracle_directory

    search = cfg.search
    objective = kt.Objective(search.objective, search.direction)
    common = dict(objective=objective, hyperparameters=hyperparameters(search), seed=cfg.seed,
                  tune_new_entries=False, allow_new_entries=False,
                  max_consecutive_failed_trials=10**6)  # an invalid trial is recorded, never ends the search
    if search.algorithm == "random":
        oracle = kt.oracles.RandomSearchOracle(max_trials=search.max_trials, **common)
    elif search.algorithm == "bayesian":
        oracle = kt.oracles.BayesianOptimizationOracle(max_trials=search.max_trials, **common)
    else:
        oracle = kt.oracles.HyperbandOracle(max_epochs=cfg.training.epochs, factor=search.hyperband_factor, **common)
    oracle.verbose = 0
    set_oracle_directory(oracle, path)  # KerasTuner's own state files, reloaded on resume
    _write_state_atomically(oracle)
    if resuming and (path / "oracle" / "oracle.json").is_file():
        oracle.reload()
    return oracle


def _write_state_atomically(oracle) -> None:
    """Have ``oracle`` write ``oracle.json`` and each ``trial_*/trial.json`` through a temporary file,
    fsync and rename. KerasTuner writes them in place, so a kill -9 or a full disk mid-write would
    leave a torn file that ``--resume`` cannot read; this way the previous complete one stays."""
    from aimodel.compat import route_oracle_writes
    from aimodel.fileio import atomic_write_text

    route_oracle_writes(oracle, atomic_write_text)


def _search(cfg: Config, path: Path, records: list[TrialRecord], on_trial) -> TuneResult:
    from keras_tuner.engine.trial import TrialStatus

    from aimodel.data import load_data

    start = time.perf_counter()
    search = cfg.search
    oracle = _oracle(cfg, path, resuming=bool(records) or (path / "oracle").is_dir())
    done = {r.trial_id for r in records}
    base = base_dict(cfg)
    bundles: dict[str, Any] = {}  # dataset section (as JSON) -> loaded data, so each is loaded once

    while True:
        trial = oracle.create_trial(TUNER_ID)
        if trial.status == TrialStatus.STOPPED:
            break
        values = decode(search, trial.hyperparameters.values)
        record = TrialRecord(trial_id=trial.trial_id, status="completed", values=values)
        if trial.trial_id in done:  # finished, but killed before the oracle heard of it
            record = next(r for r in records if r.trial_id == trial.trial_id)
        else:
            epochs = trial.hyperparameters.values.get("tuner/epochs")
            try:
                trial_cfg = trial_config(base, {**values, **({"training.epochs": int(epochs)} if epochs else {})},
                                         f"{path / 'search.yaml'} (trial {trial.trial_id})")
            except ConfigError as exc:
                record.status, record.message = "invalid", str(exc)
            else:
                _try_trial(trial_cfg, search, path, record, bundles, load_data)
            records.append(record)
            _write_records(path, records, search, cfg.task)
        if record.status == "completed" and record.objective is not None and math.isfinite(record.objective):
            oracle.update_trial(trial.trial_id, {search.objective: record.objective})
            trial.status = TrialStatus.COMPLETED
        else:
            trial.status, trial.message = TrialStatus.FAILED, record.message or "no objective value"
        oracle.end_trial(trial)
        if on_trial is not None:
            on_trial(record, records)
    best = _best(records, search.direction)
    seconds = round(time.perf_counter() - start, 2)
    _finish(cfg, path, records, best, seconds)
    return TuneResult(path, records, best, search.objective, search.direction, seconds, cfg.task)


def _try_trial(cfg: Config, search, path: Path, record: TrialRecord, bundles: dict, load_data) -> None:
    """:func:`_run_trial`; a trial that cannot train is marked ``failed`` with its reason, not raised.

    Ctrl-C and machine problems (disk full, no permission) are raised (see :func:`failure_reason`).
    """
    t0 = time.perf_counter()
    try:
        _run_trial(cfg, search, path, record, bundles, load_data)
    except Exception as exc:
        reason = failure_reason(exc)
        if reason is None:
            raise
        record.status, record.message = "failed", reason
        record.objective = record.test_accuracy = record.test_loss = None
        record.test = {}
        record.seconds = round(time.perf_counter() - t0, 2)
        log.warning("trial %s failed: %s", record.trial_id, record.message)
        log.debug("trial %s failed", record.trial_id, exc_info=True)


def _run_trial(cfg: Config, search, path: Path, record: TrialRecord, bundles: dict, load_data) -> None:
    """Train (or resume) the trial's run(s); fill in the objective and test metrics."""
    from aimodel.evaluation.evaluate import score_test_split
    from aimodel.training import checkpointing
    from aimodel.training.runner import resume, train

    executions = search.executions_per_trial
    scores, tests, epochs = [], [], []
    t0 = time.perf_counter()
    for e in range(executions):
        run_cfg = cfg if e == 0 else cfg.model_copy(update={"seed": cfg.seed + e})
        run = path / "trials" / (record.trial_id if executions == 1 else f"{record.trial_id}-{e + 1}")
        record.run_dirs.append(str(run))  # listed even when it fails, to be looked at
        key = json.dumps(run_cfg.dataset.model_dump(mode="json"), sort_keys=True) + f"/{run_cfg.seed}"
        if key not in bundles:
            bundles[key] = load_data(run_cfg.dataset, run_cfg.seed, run_cfg.task)
        bundle = bundles[key]
        summary = read_json_object(run / "summary.json")
        if summary.get("status") == "finished":
            result = None  # finished before a kill: read its records
        elif checkpointing.read_state(run) if run.is_dir() else None:
            result = resume(run)  # cut mid-way: continue from its last completed epoch
        else:
            if run.exists():
                shutil.rmtree(run)  # cut before its first epoch completed: nothing to keep
            result = train(run_cfg, run_dir=run, bundle=bundle)
        scores.append(_objective(run, search.objective, search.direction))
        test = score_test_split(run, bundle, run_cfg, model=getattr(result, "model", None))
        tests.append(test)
        epochs.append(read_json_object(run / "summary.json").get("epochs_completed"))
    record.objective = _mean(scores)
    record.test_accuracy, record.test_loss = _mean([t.get("accuracy") for t in tests]), _mean([t.get("loss") for t in tests])
    if cfg.task != "classification":
        record.test = {m: _mean([t.get(m) for t in tests]) for m in task_of(cfg.task).metrics}
    record.epochs = max((e for e in epochs if e is not None), default=None)
    record.seconds = round(time.perf_counter() - t0, 2)


def _objective(run: Path, name: str, direction: str) -> Optional[float]:
    from aimodel.training.records import read_metrics

    values = [float(r[name]) for r in read_metrics(run) if r.get(name) not in (None, "")]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return None
    return min(values) if direction == "min" else max(values)


def _mean(values: list) -> Optional[float]:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 6) if values else None


def _best(records: list[TrialRecord], direction: str) -> Optional[TrialRecord]:
    scored = [r for r in records if r.status == "completed" and r.objective is not None]
    if not scored:
        return None
    return (min if direction == "min" else max)(scored, key=lambda r: r.objective)


# --- records ------------------------------------------------------------------------------------

COLUMNS = ["trial", "status", "objective", "test_accuracy", "test_loss", "epochs", "seconds", "values", "run_dirs",
           "message"]


def test_columns(task: str) -> list[str]:
    """The test-metric columns of trials.csv: ``test_accuracy, test_loss``, or the task's metrics and loss."""
    if task == "classification":
        return ["test_accuracy", "test_loss"]
    return [f"test_{m}" for m in task_of(task).metrics] + ["test_loss"]


def test_figure(record: TrialRecord, column: str) -> Optional[float]:
    """A trial's value of a ``test_*`` column."""
    name = column[len("test_"):]
    return {"accuracy": record.test_accuracy, "loss": record.test_loss}.get(name, record.test.get(name))


def _write_records(path: Path, records: list[TrialRecord], search, task: str = "classification") -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    tests = test_columns(task)
    writer.writerow(COLUMNS[:3] + tests + COLUMNS[5:])
    for r in records:
        writer.writerow([r.trial_id, r.status, r.objective, *[test_figure(r, c) for c in tests], r.epochs, r.seconds,
                         json.dumps(r.values), json.dumps(r.run_dirs), r.message])
    atomic_write_text(path / "trials.csv", buf.getvalue())


def read_trials(path: Path) -> list[TrialRecord]:
    """The finished trials recorded in ``path/trials.csv`` (none when there is no file yet)."""
    file = path / "trials.csv"
    if not file.is_file():
        return []

    def num(v):
        return float(v) if v not in ("", "None") else None

    try:
        with open(file, newline="", encoding="utf-8") as f:
            return [TrialRecord(trial_id=row["trial"], status=row["status"], values=json.loads(row["values"]),
                                objective=num(row["objective"]), test_accuracy=num(row.get("test_accuracy", "")),
                                test_loss=num(row["test_loss"]),
                                test={k[len("test_"):]: num(v) for k, v in row.items()
                                      if k.startswith("test_") and k not in ("test_accuracy", "test_loss")},
                                epochs=int(float(row["epochs"])) if row["epochs"] not in ("", "None") else None,
                                seconds=num(row["seconds"]), run_dirs=json.loads(row["run_dirs"]),
                                message=row["message"]) for row in csv.DictReader(f)]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{file}: unreadable ({type(exc).__name__}: {exc}); the search cannot be resumed") from None


def _finish(cfg: Config, path: Path, records: list[TrialRecord], best: Optional[TrialRecord], seconds: float) -> None:
    search = cfg.search
    summary = {
        "name": cfg.name, "task": cfg.task, "algorithm": search.algorithm, "objective": search.objective,
        "direction": search.direction, "trials": len(records),
        "completed": sum(r.status == "completed" for r in records),
        "failed": sum(r.status == "failed" for r in records),
        "invalid": sum(r.status == "invalid" for r in records),
        "trial_seconds": round(sum(r.seconds or 0 for r in records), 2), "session_seconds": seconds,
        "best": asdict(best) if best else None,
    }
    atomic_write_json(path / "summary.json", summary)
    if best is not None:
        best_cfg = trial_config(base_dict(cfg), best.values, str(path / "search.yaml"))
        atomic_write_text(path / "best.yaml", f"# best trial {best.trial_id} of {path} "
                          f"({search.objective} {best.objective:.4g})\n" + dump_config(best_cfg))
    try:
        _plot(path, records, search)
    except Exception as exc:  # a plot is never worth failing a search for
        log.warning("could not draw trials.png: %s", exc)


def _plot(path: Path, records: list[TrialRecord], search) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scored = [r for r in records if r.objective is not None]
    if not scored:
        return
    keys = list(search.space)
    fig = Figure(figsize=(4.0 * (1 + len(keys)), 3.4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1 + len(keys), 1)
    ax.plot(range(1, len(scored) + 1), [r.objective for r in scored], marker="o")
    ax.set_title(f"{search.objective} per trial")
    ax.set_xlabel("trial")
    ax.grid(alpha=0.3)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(1, 1 + len(keys), i + 2)
        xs = [r.values.get(key) for r in scored]
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs):
            ax.scatter(xs, [r.objective for r in scored])
            if search.space[key].kind == "log_uniform":
                ax.set_xscale("log")
        else:
            labels = sorted({json.dumps(x) for x in xs})
            ax.scatter([labels.index(json.dumps(x)) for x in xs], [r.objective for r in scored])
            ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
        ax.set_title(key)
        ax.set_ylabel(search.objective)
        ax.grid(alpha=0.3)
    atomic_write(path / "trials.png", lambda p: fig.savefig(p, format="png"), suffix=".tmp")


