"""The training runner: data → model → fit → run directory, and resuming a run.

A run directory is resumable after every completed epoch (see
:mod:`aimodel.training.checkpointing`); :func:`resume` continues it with the
optimizer, schedule position, epoch counter, best-so-far metric and data order
restored, so an interrupted-then-resumed run takes exactly the steps an
uninterrupted one takes.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from aimodel.config import Config, dump_config
from aimodel.errors import CheckpointError, ConfigError, TrainingError, TrainingInterrupted
from aimodel.fileio import atomic_write_json, atomic_write_text
from aimodel.hardware import usable_cores
from aimodel.inference.checkpoint import read_meta
from aimodel.models.pretrained import started_from
from aimodel.training import checkpointing as ckpt
from aimodel.training import phases
from aimodel.training.progress import Reporter
from aimodel.training.records import RunRecord, TrainLog, new_summary, read_summary, run_meta, truncate_metrics
from aimodel.training.rundir import RunLock, create_run_dir

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_dir: Path
    epochs: int
    best_epoch: Optional[int]
    monitor: str
    best_value: Optional[float]
    final_metrics: dict
    seconds: float
    samples_per_second: Optional[float]
    status: str = "finished"
    global_step: int = 0
    stopped_early: bool = False
    resumed_from: Optional[int] = None  # the epoch a resumed session started after
    final_model: str = "best.keras"
    model: Any = field(default=None, repr=False)
    #: tables and texts: baseline.json (the model's and the baselines' test accuracy; see
    #: aimodel.models.baselines), and advice for the user, one line each
    baseline: Optional[dict] = None
    notes: list = field(default_factory=list)
    #: multi_worker: this process's rank and the number of workers (rank > 0 wrote no run directory)
    rank: int = 0
    world_size: int = 1


def train(
    cfg: Config,
    *,
    runs_root: str | Path = "runs",
    run_dir: str | Path | None = None,
    reporter: Reporter | None = None,
    bundle=None,
) -> TrainResult:
    """Train the model a config describes and save everything to a new run directory.

    Args:
        cfg: validated config (see :func:`aimodel.load_config`).
        runs_root: parent of numbered run directories (``runs/<name>/<n>``).
        run_dir: an explicit, new or empty, run directory instead.
        reporter: receives progress events (the CLI draws them).
        bundle: data already loaded for ``cfg.dataset`` (a search or a cross-validation fold
            loads it once for many runs); by default it is loaded here.

    Returns:
        A :class:`TrainResult`. The run directory holds ``config.yaml``,
        ``meta.json``, ``best.keras``, ``last.keras``, ``checkpoints/``,
        ``state.json``, ``metrics.csv``, ``curves.png``, ``train.log``,
        ``tensorboard/`` and ``summary.json``.

    Raises:
        TrainingInterrupted: on Ctrl-C (the last completed epoch is saved).
        TrainingError: when the loss becomes NaN or infinite.
        DistributeError: a multi-worker cluster could not start or lost a worker.
    """
    from aimodel.data.records import write_records
    from aimodel.training.precision import resolved_config

    cfg = resolved_config(cfg)  # precision: auto → what this machine runs fastest, written to config.yaml
    with _global_settings(cfg):
        dist = _distribution(cfg, "train\n" + dump_config(cfg))
        prepared = _prepare(cfg, bundle, dist, trace_early=True)
        with _worker_dir(dist) as scratch:
            # Only the chief (rank 0) writes the run directory; the other workers write theirs into a
            # temporary directory that goes when training ends (their decisions match the chief's).
            path = scratch or create_run_dir(runs_root, cfg.name, run_dir)
            with RunLock(path):
                atomic_write_text(path / "config.yaml", dump_config(cfg))
                atomic_write_json(path / "meta.json", {**run_meta(prepared.bundle, prepared.monitor),
                                                       **started_from(cfg)})  # model.backbone: where weights came from
                write_records(prepared.bundle, path)  # data.json (counts, skipped files), split.json (file lists)
                summary = new_summary(cfg.name)
                result = _fit(cfg, prepared, path, None, summary, reporter or Reporter(), overrides=())
                if dist.is_chief:
                    _after_training(cfg, prepared.bundle, result)
                return result


def _after_training(cfg: Config, bundle, result: TrainResult) -> None:
    """Multilabel thresholds (meta.json); tables and texts: the baselines on the test split (baseline.json)
    and advice for small data."""
    from aimodel.models.baselines import record_run_baselines, wanted

    _set_thresholds(cfg, bundle, result)
    if wanted(cfg.dataset, bundle.spec) and result.model is not None and len(bundle.test):
        result.baseline = record_run_baselines(bundle, result.model, result.run_dir, cfg.seed)
    if bundle.spec.kind == "tabular" and bundle.val is not None and len(bundle.val) < 200:
        result.notes.append(f"the validation split has {len(bundle.val)} rows, so the best epoch is chosen on "
                            f"few samples; `aimodel cv CONFIG` gives a steadier estimate")
    dropped = bundle.notes.get("dropped_rows")
    if dropped:
        result.notes.append(f"{dropped} row(s) without a label were left out")


def _set_thresholds(cfg: Config, bundle, result: TrainResult) -> None:
    """Multilabel: the decision thresholds of training.threshold, saved in meta.json (see training/thresholds.py)."""
    if bundle.spec.task == "multilabel" and result.model is not None:
        from aimodel.training.thresholds import set_thresholds

        note = set_thresholds(cfg, bundle, result.model, result.run_dir)
        if note:
            result.notes.append(note)


def resume(
    run_dir: str | Path,
    *,
    overrides: Iterable[str] = (),
    reporter: Reporter | None = None,
) -> TrainResult:
    """Continue a run from its last completed epoch.

    Args:
        run_dir: a run directory made by :func:`train`.
        overrides: ``training.*`` overrides (``training.epochs=20`` extends a
            finished run). Changing anything but ``epochs`` or the early-stopping
            rule makes the run differ from an uninterrupted one.
        reporter: receives progress events.

    Raises:
        CheckpointError: the directory is not a resumable run, is in use, or
            has nothing left to train.
    """
    from aimodel.config import load_config

    path = Path(run_dir)
    if not (path / "config.yaml").is_file() or not (path / "meta.json").is_file():
        raise CheckpointError(
            f"{path}: not a run directory (no config.yaml and meta.json); "
            "pass a directory made by `aimodel train`, such as runs/<name>/<n>"
        )
    overrides = tuple(overrides)
    for item in overrides:
        key = item.partition("=")[0].strip()
        if not key.startswith("training."):
            raise ConfigError(
                f"--set {key}: a resumed run keeps its data, model and seed; only training.* "
                "keys can change (start a new run with `aimodel train CONFIG` instead)"
            )
    cfg = load_config(path / "config.yaml", overrides)
    from aimodel.training.precision import resolved_config

    cfg = resolved_config(cfg)  # only a hand-edited config.yaml or --set holds auto here
    with _global_settings(cfg):
        started = ckpt.read_state(path)
        dist = _distribution(cfg, f"resume after epoch {started.epoch if started else 0}\n" + dump_config(cfg))
        with _worker_dir(dist) as scratch:
            if scratch is not None:
                path = _copy_for_worker(path, scratch, dist)
            return _resume_in(cfg, path, dist, overrides, reporter)


def _resume_in(cfg: Config, path: Path, dist, overrides: tuple, reporter) -> TrainResult:
    with RunLock(path):
        state = ckpt.read_state(path)
        if state is None and ckpt.has_saved_epochs(path):
            # Restarting would delete those checkpoints; nothing says which epoch they hold.
            raise CheckpointError(
                f"{path}: has saved epochs (checkpoints/, last.keras) but no {ckpt.STATE_FILE}, the record of "
                "which epoch completed, so it cannot be resumed exactly; its files are left as they are. "
                f"Start a new run from its config with: aimodel train {shlex.quote(str(path / 'config.yaml'))}"
            )
        summary = read_summary(path) or new_summary(cfg.name)
        if state is not None:
            _check_something_to_do(path, cfg, state, overrides)
        prepared = _prepare(cfg, None, dist)
        meta = run_meta(prepared.bundle, "")
        old_meta = read_meta(path, resuming=True)
        if old_meta.get("splits") != meta["splits"] or old_meta.get("test_fingerprint") != meta["test_fingerprint"]:
            raise CheckpointError(
                f"{path}: the dataset no longer matches the one this run started with "
                f"(splits {old_meta.get('splits')} then, {meta['splits']} now); resume needs the same data"
            )
        if overrides:
            atomic_write_text(path / "config.yaml", dump_config(cfg))
        if state is not None:
            phases.before_restore(prepared.model, cfg, prepared.steps_per_epoch, state.epoch)
            ckpt.restore(prepared.model, path, state)
            ckpt.publish(path, state)
            if state.early_stopping.get("stopped_epoch"):
                # Extending an early-stopped run: the patience count starts again.
                state.early_stopping.update(wait=0, stopped_epoch=None)
        else:
            ckpt.remove_temporary_files(path)
        truncate_metrics(path, state.epoch if state else 0)
        result = _fit(cfg, prepared, path, state, summary, reporter or Reporter(), overrides=overrides)
        if dist.is_chief:  # the best model may have changed: its thresholds and baseline.json are made again
            _after_training(cfg, prepared.bundle, result)
        return result


def _check_something_to_do(path: Path, cfg: Config, state: ckpt.RunState, overrides: tuple) -> None:
    stopped = state.early_stopping.get("stopped_epoch")
    if stopped and not overrides:
        raise CheckpointError(
            f"{path}: stopped early at epoch {stopped} ({state.early_stopping.get('monitor')} had not "
            f"improved); to train further: aimodel train --resume {shlex.quote(str(path))} --set "
            f"training.epochs={max(cfg.training.epochs, state.epoch) + 10} (the patience count restarts)"
        )
    if state.epoch >= cfg.training.epochs:
        raise CheckpointError(
            f"{path}: has trained all {state.epoch} epochs (training.epochs={cfg.training.epochs}); "
            f"to train further: aimodel train --resume {shlex.quote(str(path))} --set training.epochs={state.epoch + 10}"
        )


# --- setup ------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    bundle: Any
    model: Any
    steps_per_epoch: int
    #: what the best checkpoint and early stopping watch (val_* falls back to training metrics)
    monitor: str
    es_monitor: str
    #: where an image folder's decoded pixels are kept, and how long filling took (shown and logged)
    data_note: Optional[str] = None
    #: the strategy it trains under (training.distribute)
    dist: Any = None
    #: the checkpoint writer's shadow model, loading already (a new run traced early; see early_trace)
    shadow: Any = None


@contextlib.contextmanager
def _global_settings(cfg: Config):
    """Seed, op determinism and dtype policy for this run; the policy is restored after."""
    import keras
    import tensorflow as tf

    from aimodel.training.precision import resolve as resolve_precision

    _set_threads(cfg.training.threads)
    keras.utils.set_random_seed(cfg.seed)
    if cfg.training.deterministic:
        # Process-wide and not undone afterwards: TensorFlow cannot switch it off reliably.
        tf.config.experimental.enable_op_determinism()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(resolve_precision(cfg.training.precision, len(tf.config.list_physical_devices("GPU"))))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _set_threads(threads: Union[int, str, None]) -> None:
    """``training.threads``: TensorFlow's intra- and inter-op thread pools (fixed once TensorFlow has started).

    ``parallel_ops``: one thread per operation (intra-op 1) and as many operations side by side as the process
    may use cores (inter-op). An operation's arithmetic depends only on its own thread count, so
    ``parallel_ops`` computes exactly as ``1`` does on any machine, and a resumed run is unchanged.
    """
    import tensorflow as tf

    if threads is None:
        return
    intra, inter = (1, usable_cores()) if threads == "parallel_ops" else (int(threads), int(threads))
    threading = tf.config.threading
    if (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()) == (intra, inter):
        return
    try:
        threading.set_intra_op_parallelism_threads(intra)
        threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # TensorFlow already ran something in this process
        log.warning("training.threads=%s not applied: TensorFlow is already running in this process "
                    "with its own thread settings", threads)
    else:
        log.info("threads: %d per operation, up to %d operations side by side", intra, inter)


def _distribution(cfg: Config, fingerprint_text: str):
    """Start ``training.distribute``'s strategy; multi-worker checks every worker has the same config."""
    from aimodel.training import distribute

    dist = distribute.start(cfg.training.distribute, cfg.training.worker_timeout, fingerprint_text)
    if dist.mode == "multi_worker" and cfg.training.batch_size % dist.replicas:
        raise ConfigError(f"training.batch_size: {cfg.training.batch_size} is the global batch, split evenly over "
                          f"{dist.replicas} workers; use a multiple of {dist.replicas}")
    return dist


@contextlib.contextmanager
def _worker_dir(dist):
    """None for the chief; for another worker, a temporary directory for its copy of the run (removed after)."""
    import shutil
    import tempfile

    if dist.is_chief:
        yield None
        return
    scratch = Path(tempfile.mkdtemp(prefix=f"aimodel-rank{dist.rank}-"))
    (scratch / "run").mkdir()
    try:
        yield scratch / "run"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _copy_for_worker(path: Path, scratch: Path, dist) -> Path:
    """A non-chief worker resumes from a copy of the files it needs from the chief's run directory."""
    import shutil

    from aimodel.training.distribute import DistributeError

    state = ckpt.read_state(path)
    names = ["config.yaml", "meta.json", ckpt.STATE_FILE, "summary.json"]
    if state is not None:
        names += [state.checkpoint] + ([state.best_checkpoint] if state.best_checkpoint else [])
    (scratch / ckpt.CHECKPOINT_DIR).mkdir(parents=True)
    for name in names:
        if not (path / name).is_file():
            if name == "summary.json":
                continue
            raise DistributeError(
                f"rank {dist.rank} cannot read {path / name}: resuming a multi-worker run needs the run "
                "directory at the same path on every worker (shared storage such as NFS or a volume)")
        shutil.copyfile(path / name, scratch / name)
    return scratch


def _prepare(cfg: Config, bundle=None, dist=None, trace_early: bool = False) -> _Prepared:
    """Load data (unless given), build the model and compile it (before any file is written).

    ``trace_early`` (a new run): where :func:`early_trace.can_trace_early` allows, an image folder's
    cache is decoded in a thread while the model is built and its training graph traced.
    """
    from aimodel.data import load_data
    from aimodel.models.factory import build_model
    from aimodel.training import early_trace
    from aimodel.training.distribute import Distribution
    from aimodel.data.pipeline import steps_per_epoch
    from aimodel.training.optim import compile_model, uses_one_hot

    dist = dist or Distribution()
    if bundle is None:
        dataset = cfg.dataset
        if dist.mode == "multi_worker" and getattr(dataset, "cache", None) == "auto":
            # Each worker decodes only the files of its own share of every batch.
            dataset = dataset.model_copy(update={"cache": "none"})
        bundle = load_data(dataset, cfg.seed, cfg.task)
    early = trace_early and early_trace.can_trace_early(cfg, bundle, dist)
    # Otherwise filled before the model: standardization statistics read the cache, for one.
    fill = early_trace.CacheFill(bundle, background=early)
    workers = dist.replicas if dist.mode == "multi_worker" else 1
    steps = steps_per_epoch(len(bundle.train), cfg.training.batch_size, workers)
    with dist.scope():  # variables (model, optimizer, metrics) are created where the strategy wants them
        model = build_model(cfg, bundle)
        training = cfg.training
        if dist.mode == "mirrored" and training.steps_per_execution > 1:
            # Keras' multi-step loop fails under MirroredStrategy in TF 2.21 ("You must feed a value for
            # placeholder tensor"): one batch per call there.
            training = training.model_copy(update={"steps_per_execution": 1})
        compile_model(model, training, steps, cfg.task)  # the only compile: optimizer with the epoch-based schedule
        if dist.mode == "multi_worker":
            one_hot = bundle.num_classes if uses_one_hot(cfg.training) else None
            _build_for_loop(model, bundle, cfg.training.batch_size // dist.replicas, one_hot)
    shadow = None
    if fill.background and early_trace.trace(model, cfg, bundle) and phases.background_checkpoints(cfg):
        from aimodel.training.checkpoint_writer import preload_shadow

        shadow = preload_shadow(model)  # loads beside the rest of the decoding, not in epoch 1
    data_note = fill.note()
    monitor, es_monitor = cfg.training.monitors(bundle.val is not None)
    return _Prepared(bundle=bundle, model=model, steps_per_epoch=steps, monitor=monitor, es_monitor=es_monitor,
                     data_note=data_note, dist=dist, shadow=shadow)


def _build_for_loop(model, bundle, batch_size: int, one_hot: Optional[int]) -> None:
    """Create the optimizer's and the compiled metrics' variables now, outside the replicas
    (``fit`` does this in its first call; Keras' own helper for it, given one ordinary batch)."""
    from aimodel.compat import symbolic_build
    from aimodel.data.pipeline import make_dataset

    batch = next(iter(make_dataset(bundle.train, max(1, min(batch_size, len(bundle.train))), one_hot=one_hot)))
    symbolic_build(model, batch)


# --- fit --------------------------------------------------------------------------------------


@dataclass
class _Fitting:
    """What setting up a fit hands to running it and finishing it."""

    cfg: Config
    prepared: _Prepared
    path: Path
    #: the state a resumed run starts from (None for a new run) and its epoch (0 for a new run)
    state: Optional[ckpt.RunState]
    initial_epoch: int
    reporter: Reporter
    order: Any  # data.pipeline.EpochOrder: the shuffling of every epoch, restored on resume
    one_hot: Optional[int]
    class_weight: Optional[dict]
    train_log: TrainLog
    callback: Any  # callbacks.RunCallback: checkpoints, best model, early stopping, progress
    record: RunRecord


def _fit(cfg: Config, prepared: _Prepared, path: Path, state: Optional[ckpt.RunState], summary: dict,
         reporter: Reporter, overrides: tuple) -> TrainResult:
    """Train ``prepared.model`` in ``path`` from ``state`` (None: from the start) to ``training.epochs``."""
    fitting = _setup_fit(cfg, prepared, path, state, summary, reporter, overrides)
    _run_fit(fitting)
    return _finish_fit(fitting)


def _setup_fit(cfg: Config, prepared: _Prepared, path: Path, state: Optional[ckpt.RunState], summary: dict,
               reporter: Reporter, overrides: tuple) -> _Fitting:
    """The callback, the run's record and log for this session; says in them that the session began."""
    from aimodel.data.pipeline import EpochOrder
    from aimodel.training.callbacks import RunCallback, Session
    from aimodel.training.optim import class_weights, uses_one_hot
    from aimodel.training.tensorboard import TensorBoardWriter

    bundle, steps, dist = prepared.bundle, prepared.steps_per_epoch, prepared.dist
    t = cfg.training
    one_hot = bundle.num_classes if uses_one_hot(t) else None
    order = EpochOrder(len(bundle.train), cfg.seed)
    weights = class_weights(cfg, bundle)
    initial = state.epoch if state else 0
    train_log = TrainLog(path)
    session = Session(run_dir=path, seed=cfg.seed, steps_per_epoch=steps, epochs=t.epochs, monitor=prepared.monitor,
                      es_monitor=prepared.es_monitor, state=state, wall_offset=state.wall_seconds if state else 0.0,
                      rank=dist.rank)
    tensorboard = TensorBoardWriter(path) if t.tensorboard else None
    callback = RunCallback(session, t, reporter, order=order, log=train_log, tensorboard=tensorboard,
                           background_checkpoints=phases.background_checkpoints(cfg), shadow=prepared.shadow)
    if state is None:
        train_log.write(f"training {path}: {t.epochs} epochs × {steps} steps, seed {cfg.seed}, "
                        f"{len(bundle.train)} training samples")
    else:
        train_log.write(f"resuming {path} after epoch {state.epoch} (step {state.global_step})"
                        + (f" with {' '.join('--set ' + o for o in overrides)}" if overrides else ""))
    record = RunRecord(path, cfg, summary, steps=steps, monitor=prepared.monitor, n_train=len(bundle.train),
                       overrides=overrides, initial_epoch=initial, wall_offset=session.wall_offset,
                       log=train_log, tensorboard=tensorboard,
                       distribution={"distribute": dist.mode, "world_size": dist.world_size, "replicas": dist.replicas})
    record.begin()  # a kill -9 from here on leaves this session in summary.json
    if prepared.data_note:
        reporter.note(prepared.data_note)
        train_log.write(prepared.data_note)
    if dist.mode != "none":
        note = f"training on {dist.describe()}, global batch {t.batch_size}"
        reporter.note(note)
        train_log.write(note)
    shown = str(path) if dist.is_chief else f"a temporary copy (rank {dist.rank}; rank 0 writes the run directory)"
    reporter.train_begin(t.epochs, steps, shown, initial_epoch=initial)
    return _Fitting(cfg=cfg, prepared=prepared, path=path, state=state, initial_epoch=initial, reporter=reporter,
                    order=order, one_hot=one_hot, class_weight=weights, train_log=train_log, callback=callback,
                    record=record)


def _run_fit(f: _Fitting) -> None:
    """Train the epochs; on any failure record how the session ended and raise the error meant for people."""
    from aimodel.training.callbacks import NonFiniteLoss

    t, path, callback = f.cfg.training, f.path, f.callback
    try:
        _train_epochs(f)
        callback.close()  # every finished epoch is committed before the run says it finished
        f.train_log.write(f"checkpoints: training waited {callback.writer.waited:.2f} s in all for the writer "
                          f"({'in the background' if callback.writer.background else 'on the training thread'})")
    except KeyboardInterrupt:
        _close_quietly(callback)
        _end_session(f, "interrupted")
        f.reporter.train_end()
        done = callback.completed_epochs
        saved = (f"epoch {done} of {t.epochs} is saved" if done
                 else "no epoch had completed, so resuming starts it again from the beginning")
        raise TrainingInterrupted(
            f"training interrupted; {saved}. Resume with:\n  aimodel train --resume {shlex.quote(str(path))}"
        ) from None
    except NonFiniteLoss as exc:
        _close_quietly(callback)
        done = callback.completed_epochs
        _end_session(f, "failed", error=str(exc))
        f.reporter.train_end()
        kept = (f"the last good checkpoint (epoch {done}) is kept in {path / 'last.keras'}"
                if done else "no epoch had completed, so there is no checkpoint")
        lower = f"{t.learning_rate / 10:g}"
        hint = (f"; to continue from it with a lower rate: aimodel train --resume {shlex.quote(str(path))} "
                f"--set training.learning_rate={lower}" if done else
                f"; try a lower training.learning_rate (now {t.learning_rate:g})")
        raise TrainingError(
            f"{exc}; training stopped. {kept}{hint}, or check the data for extreme values"
        ) from None
    except BaseException as exc:
        _close_quietly(callback)
        _end_session(f, "failed", error=f"{type(exc).__name__}: {exc}")
        f.reporter.train_end()
        raise


def _train_epochs(f: _Fitting) -> None:
    """Keras' ``fit`` from ``initial_epoch`` to ``training.epochs`` (the custom loop for multi-worker)."""
    from aimodel.data.pipeline import make_dataset

    t, model, bundle, dist = f.cfg.training, f.prepared.model, f.prepared.bundle, f.prepared.dist
    with warnings.catch_warnings():
        # Each epoch is a finite dataset; Keras warns when one ends inside a steps_per_execution block.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        if dist.mode == "multi_worker":
            from aimodel.training import loop

            loop.fit(model, dist, bundle.train, bundle.val, batch_size=t.batch_size, order=f.order,
                     val_batch_size=t.validation_batch_size,
                     one_hot=f.one_hot, class_weight=f.class_weight, epochs=t.epochs, initial_epoch=f.initial_epoch,
                     callback=f.callback, steps_per_execution=t.steps_per_execution)
        else:
            train_ds = make_dataset(bundle.train, t.batch_size, order=f.order, one_hot=f.one_hot)
            val_ds = (make_dataset(bundle.val, t.validation_batch_size, one_hot=f.one_hot)
                      if bundle.val is not None else None)
            # pretrained backbones train in two phases (head, then fine-tuning): see training/phases.py
            phases.fit(model, f.cfg, f.prepared.steps_per_epoch, lambda start, end: model.fit(
                train_ds, validation_data=val_ds, epochs=end, initial_epoch=start,
                callbacks=[f.callback, *_trace_validation_early(val_ds)], class_weight=f.class_weight,
                shuffle=False, verbose=0,
            ), f.initial_epoch, t.epochs, stopped=lambda: f.callback.stopped_epoch is not None, note=f.train_log.write)


def _trace_validation_early(val_ds) -> list:
    """A callback that traces the validation function while the first epoch trains (none without validation).

    Started after the first training call returns, so the training function (traced first) has built the
    compiled loss and metrics the validation step reuses; see ``compat.trace_test_function_in_background``.
    """
    if val_ds is None:
        return []
    import keras

    from aimodel.compat import trace_test_function_in_background

    class TraceValidation(keras.callbacks.Callback):
        started = False

        def on_train_batch_end(self, batch, logs=None):
            if not self.started:
                self.started = True
                trace_test_function_in_background(self.model, val_ds)

    return [TraceValidation()]


def _finish_fit(f: _Fitting) -> TrainResult:
    """Check the saved model loads, close the run's record, and put the best epoch's weights in the model."""
    f.reporter.train_end()
    path, model, callback, dist = f.path, f.prepared.model, f.callback, f.prepared.dist
    try:
        _verify_run_model(path, model, callback)
    except CheckpointError as exc:
        _end_session(f, "failed", error=str(exc))
        raise
    s = _end_session(f, "finished")
    if s["final_model"] == "best.keras" and callback.best_checkpoint:
        model.load_weights(path / callback.best_checkpoint)
    return TrainResult(
        run_dir=path, epochs=callback.completed_epochs, best_epoch=callback.best_epoch,
        monitor=f.prepared.monitor, best_value=callback.best.best, final_metrics=s["final_metrics"],
        seconds=s["wall_seconds"], samples_per_second=s["samples_per_second"], status="finished",
        global_step=s["global_step"], stopped_early=s["stopped_early"],
        resumed_from=f.initial_epoch if f.state is not None else None, final_model=s["final_model"] or "last.keras",
        model=model, rank=dist.rank, world_size=dist.world_size,
    )


def _end_session(f: _Fitting, status: str, error: Optional[str] = None) -> dict:
    """Write how this session ended to summary.json and train.log, and draw curves.png; the summary."""
    from aimodel.training.plots import write_curves

    summary = f.record.finish(f.callback, status, error)
    try:
        write_curves(f.path)
    except Exception as exc:  # a plot is never worth failing a run for
        log.warning("could not draw curves.png: %s", exc)
    return summary


def _close_quietly(callback) -> None:
    """Commit what the checkpoint writer still holds while another error is being reported."""
    try:
        callback.close()
    except Exception as exc:
        log.warning("a checkpoint write failed: %s: %s", type(exc).__name__, exc)


def _verify_run_model(path: Path, model, callback) -> None:
    """Load ``best.keras`` (what evaluate and predict load first) in safe mode before reporting success.

    Its weights are compared with the model's when it is the last epoch's checkpoint; otherwise
    their shapes and the vocabularies are (the first checkpoint was compared in full).
    """
    final = path / "best.keras"
    if not final.is_file():
        return  # no epoch completed in this session and none before: nothing was written
    state = callback.state
    current = state is not None and state.best_checkpoint == state.checkpoint
    try:
        ckpt.verify_model_file(final, model, same_weights=current)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}; training is not reported as finished, because evaluate and predict "
                              "could not use this file. This is a bug in aimodel or Keras; please report it "
                              "with the run's config.yaml") from None
