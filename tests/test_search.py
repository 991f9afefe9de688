"""aimodel tune and aimodel cv: search end to end, resume after kill -9, invalid spaces, k-fold statistics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from aimodel.cli import main
from aimodel.config import load_config
from aimodel.errors import ConfigError
from tests.conftest import ROOT, TINY, write_config

SEARCH = {
    "algorithm": "random",
    "objective": "val_accuracy",
    "max_trials": 3,
    "space": {
        "training.learning_rate": {"log_uniform": [1.0e-3, 1.0e-2]},
        "model.dense": {"choice": [[8], [16]]},
        "training.batch_size": {"int": [16, 48]},
    },
}


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _search_config(tmp_path: Path, **search) -> Path:
    cfg = {**TINY, "training": {**TINY["training"], "epochs": 1}, "search": {**SEARCH, **search}}
    return write_config(tmp_path / "search.yaml", cfg)


def _rows(tune_dir: Path) -> list[dict]:
    import csv

    with open(tune_dir / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_a_tiny_search_end_to_end(tmp_path):
    config = _search_config(tmp_path)
    result = _invoke("tune", config, "--runs-root", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    tune_dir = tmp_path / "runs" / "tiny" / "tune-1"
    rows = _rows(tune_dir)
    assert [r["trial"] for r in rows] == ["0", "1", "2"] and {r["status"] for r in rows} == {"completed"}
    for row in rows:
        values = json.loads(row["values"])
        assert 1e-3 <= values["training.learning_rate"] <= 1e-2 and values["model.dense"] in ([8], [16])
        assert 16 <= values["training.batch_size"] <= 48
        run = Path(json.loads(row["run_dirs"])[0])
        metrics = (run / "metrics.csv").read_text().splitlines()
        assert float(row["objective"]) == pytest.approx(float(metrics[1].split(",")[3]), abs=1e-5)  # val_accuracy
        assert (run / "best.keras").is_file()  # an ordinary run directory
    summary = json.loads((tune_dir / "summary.json").read_text())
    best = max(rows, key=lambda r: float(r["objective"]))
    assert summary["best"]["trial_id"] == best["trial"] and summary["completed"] == 3
    assert (tune_dir / "trials.png").stat().st_size > 1000
    best_cfg = load_config(tune_dir / "best.yaml")
    assert best_cfg.search is None
    assert best_cfg.training.learning_rate == pytest.approx(json.loads(best["values"])["training.learning_rate"])
    trained = _invoke("train", tune_dir / "best.yaml", "--runs-root", tmp_path / "again", "--quiet")
    assert trained.exit_code == 0, trained.output


@pytest.mark.parametrize("space, message", [
    ({"model.nonexistent": {"choice": [1, 2]}}, r"search\.space\.model\.nonexistent: 1 gives an invalid config.*unknown key"),
    ({"training.learning_rate": {"uniform": [0.1, 0.01]}}, r"search\.space\.training\.learning_rate\.uniform: low must be less than high"),
    ({"training.learning_rate": {"log_uniform": [0, 0.01]}}, r"log_uniform: a log range must stay above 0"),
    ({"training.epochs": {"choice": [1, 0]}}, r"search\.space\.training\.epochs: 0 gives an invalid config.*must be ≥ 1"),
    ({"model.dropout": {"uniform": [0.0, 0.5], "choice": [0.1]}}, r"give exactly one of"),
    ({}, r"search\.space: expected at least one"),
])
def test_invalid_spaces_are_refused_before_training(tmp_path, space, message):
    config = _search_config(tmp_path, space=space)
    result = _invoke("tune", config, "--runs-root", tmp_path / "runs")
    assert result.exit_code == 1
    assert __import__("re").search(message, result.output), result.output
    assert not (tmp_path / "runs").exists()  # nothing trained, nothing written


def test_no_search_section(tmp_path):
    config = write_config(tmp_path / "plain.yaml", TINY)
    result = _invoke("tune", config)
    assert result.exit_code == 1 and "no search section" in result.output


def test_a_combination_the_schema_refuses_is_recorded_not_fatal(tmp_path):
    # Each value alone is valid; together (residual blocks with valid padding) they are not.
    config = _search_config(tmp_path, max_trials=2, space={"model.padding": {"choice": ["valid"]},
                                                          "model.residual": {"choice": [True]}})
    result = _invoke("tune", config, "--runs-root", tmp_path / "runs")
    assert result.exit_code == 1 and "no trial finished" in result.output
    rows = _rows(tmp_path / "runs" / "tiny" / "tune-1")
    assert rows and all(r["status"] == "invalid" and "needs model.padding: same" in r["message"] for r in rows)


@pytest.mark.subprocess
def test_kill_9_mid_search_then_resume_skips_finished_trials(tmp_path):
    config = _search_config(tmp_path, max_trials=3)
    tune_dir = tmp_path / "search"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "aimodel", "tune", str(config), "--run-dir", str(tune_dir)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if (tune_dir / "trials.csv").is_file() and len(_rows(tune_dir)) >= 1 and (tune_dir / "trials" / "1").exists():
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the search ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    finished = {r["trial"]: r for r in _rows(tune_dir)}
    assert "0" in finished and "2" not in finished
    stamp = (tune_dir / "trials" / "0" / "summary.json").stat().st_mtime_ns
    result = _invoke("tune", "--resume", tune_dir)
    assert result.exit_code == 0, result.output
    rows = _rows(tune_dir)
    assert [r["trial"] for r in rows] == ["0", "1", "2"] and {r["status"] for r in rows} == {"completed"}
    assert rows[0] == finished["0"]  # not run again
    assert (tune_dir / "trials" / "0" / "summary.json").stat().st_mtime_ns == stamp


def test_oracle_state_files_are_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    """oracle.json and trial.json go through a temporary file and a rename: a write that fails at the
    last moment (disk full, kill -9) leaves the previous complete file, which --resume can read."""
    from aimodel import fileio
    from aimodel.search.tune import _oracle

    cfg = load_config(_search_config(tmp_path))
    oracle = _oracle(cfg, tmp_path / "tune", resuming=False)
    first = oracle.create_trial("tuner0")
    state_file = tmp_path / "tune" / "oracle" / "oracle.json"
    trial_file = tmp_path / "tune" / "oracle" / f"trial_{first.trial_id}" / "trial.json"
    before, trial_before = state_file.read_text(), trial_file.read_text()
    assert json.loads(before)["ongoing_trials"] == {"tuner0": first.trial_id}

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", full_disk)
    with pytest.raises(OSError):
        oracle.update_trial(first.trial_id, {"val_accuracy": 0.5})  # rewrites trial.json
    oracle.ongoing_trials.clear()  # what oracle.json would now say
    with pytest.raises(OSError):
        oracle.save()
    assert state_file.read_text() == before and trial_file.read_text() == trial_before
    assert not [p for p in state_file.parent.rglob(".*")], "a temporary file was left behind"


class _Cut(BaseException):
    """A kill -9 stand-in: nothing after it runs, and no except clause of the library catches it."""


def _diverging_search(tmp_path: Path) -> Path:
    # SGD at 1e12 diverges within the first epoch; 0.01 trains. Two values, so exactly two trials.
    cfg = {**TINY, "training": {**TINY["training"], "epochs": 1, "optimizer": "sgd"},
           "search": {**SEARCH, "max_trials": 3, "space": {"training.learning_rate": {"choice": [1.0e12, 0.01]}}}}
    return write_config(tmp_path / "diverging.yaml", cfg)


def test_a_diverging_trial_is_recorded_as_failed_and_never_run_again(tmp_path, monkeypatch):
    from aimodel.search import tune as tune_module

    tune_dir = tmp_path / "search"
    write_records = tune_module._write_records

    def cut_after_the_failure_is_recorded(path, records, search, *task):
        write_records(path, records, search, *task)
        if any(r.status == "failed" for r in records):
            raise _Cut  # killed before the oracle heard of the failure: --resume must not run it again

    monkeypatch.setattr(tune_module, "_write_records", cut_after_the_failure_is_recorded)
    with pytest.raises(_Cut):
        tune_module.tune(load_config(_diverging_search(tmp_path)), run_dir=tune_dir)
    monkeypatch.undo()
    failed = next(r for r in _rows(tune_dir) if r["status"] == "failed")
    assert failed["message"].startswith("loss became nan at epoch 1") and "\n" not in failed["message"]
    assert json.loads(failed["values"]) == {"training.learning_rate": 1.0e12} and failed["objective"] == ""
    failed_run = Path(json.loads(failed["run_dirs"])[0])
    stamp = (failed_run / "summary.json").stat().st_mtime_ns

    result = _invoke("tune", "--resume", tune_dir)
    assert result.exit_code == 0, result.output
    rows = _rows(tune_dir)
    assert sorted(r["status"] for r in rows) == ["completed", "failed"] and len({r["trial"] for r in rows}) == 2
    assert next(r for r in rows if r["status"] == "failed") == failed  # not run again
    assert (failed_run / "summary.json").stat().st_mtime_ns == stamp
    assert "failed: loss became nan at epoch 1" in result.output  # the live table
    assert "1 of 2 trials completed (1 failed, 0 invalid)" in result.output
    summary = json.loads((tune_dir / "summary.json").read_text())
    assert summary["failed"] == 1 and summary["completed"] == 1
    assert summary["best"]["values"] == {"training.learning_rate": 0.01}


def test_a_second_tune_in_a_running_search_is_refused_before_anything_is_deleted(tmp_path):
    from aimodel.config import dump_config
    from aimodel.search.tune import TUNER_ID, _oracle
    from aimodel.training.rundir import RunLock

    cfg = load_config(_search_config(tmp_path, max_trials=1))
    tune_dir = tmp_path / "search"
    tune_dir.mkdir()
    (tune_dir / "search.yaml").write_text(dump_config(cfg))
    trial = _oracle(cfg, tune_dir, resuming=False).create_trial(TUNER_ID)
    started = tune_dir / "trials" / trial.trial_id
    started.mkdir(parents=True)
    (started / "train.log").write_text("epoch 1 under way\n")  # the first tune is still before its first epoch
    with RunLock(tune_dir):  # what the first tune holds while it runs
        result = _invoke("tune", "--resume", tune_dir)
    assert result.exit_code == 1, result.output
    assert "another `aimodel tune` is running in this folder" in result.output and "Traceback" not in result.output
    assert (started / "train.log").read_text() == "epoch 1 under way\n"
    assert not (tune_dir / "trials.csv").exists()


def test_failure_reason_is_one_line_and_lets_interruptions_through():
    import errno

    from aimodel.errors import TrainingError, TrainingInterrupted
    from aimodel.search.process import failure_reason

    oom = RuntimeError("OOM when allocating tensor with shape[4096,4096]\n\t [[{{node dense/MatMul}}]]")
    assert failure_reason(oom) == "RuntimeError: OOM when allocating tensor with shape[4096,4096]"
    assert failure_reason(TrainingError("loss became nan at epoch 1")) == "loss became nan at epoch 1"
    assert len(failure_reason(ValueError("x" * 1000))) == 300
    assert failure_reason(TrainingInterrupted("training interrupted")) is None
    assert failure_reason(OSError(errno.ENOSPC, "No space left on device")) is None


# --- cross-validation -----------------------------------------------------------------------------------


def test_folds_match_scikit_learn_and_are_stratified():
    from sklearn.model_selection import StratifiedKFold

    from aimodel.search.cv import fold_indices

    y = np.repeat(np.arange(3), [20, 30, 10])
    folds = fold_indices(y, 5, seed=7)
    expected = list(StratifiedKFold(5, shuffle=True, random_state=7).split(np.zeros(len(y)), y))
    for (train, val), (e_train, e_val) in zip(folds, expected):
        np.testing.assert_array_equal(val, e_val)
        np.testing.assert_array_equal(train, e_train)
        assert np.bincount(y[val]).tolist() == [4, 6, 2]  # every fold keeps the class proportions
    assert sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(len(y)))


def test_fold_count_errors():
    from aimodel.search.cv import fold_indices

    y = np.repeat(np.arange(2), [10, 3])
    with pytest.raises(ConfigError, match=r"at least 2 folds, got 1"):
        fold_indices(y, 1, 0)
    with pytest.raises(ConfigError, match=r"smallest class has only 3 .*at most --folds 3"):
        fold_indices(y, 4, 0)


def test_mean_and_std():
    from aimodel.search.cv import mean_std

    got = mean_std([0.9, 1.0, 0.95])
    assert got["mean"] == pytest.approx(0.95) and got["std"] == pytest.approx(np.std([0.9, 1.0, 0.95]), abs=1e-6)
    assert mean_std([None]) == {"mean": None, "std": None}


def test_cv_end_to_end(tmp_path, monkeypatch):
    # A TF_CONFIG left in the environment (a TFJob) must not make the folds wait for a cluster.
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    config = write_config(tmp_path / "tiny.yaml", {**TINY, "training": {**TINY["training"], "epochs": 1}})
    result = _invoke("cv", config, "--folds", 2, "--runs-root", tmp_path / "runs", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    per_fold = report["per_fold"]
    assert [f["fold"] for f in per_fold] == [1, 2]
    assert per_fold[0]["val"] + per_fold[1]["val"] == per_fold[0]["train"] + per_fold[0]["val"]  # the pool, split in two
    accs = [f["test_accuracy"] for f in per_fold]
    assert report["summary"]["test_accuracy"]["mean"] == pytest.approx(np.mean(accs), abs=1e-6)
    assert report["summary"]["test_accuracy"]["std"] == pytest.approx(np.std(accs), abs=1e-6)
    layout = json.loads((tmp_path / "runs" / "tiny" / "cv-1" / "folds.json").read_text())
    assert sorted(layout["validation"][0] + layout["validation"][1]) == list(range(layout["pool"]))
    assert _invoke("cv", config, "--folds", 1).exit_code == 1


def test_search_yaml_is_ignored_by_train(tmp_path):
    cfg = load_config(_search_config(tmp_path))
    assert cfg.search is not None and cfg.search.direction == "max"
    dumped = yaml.safe_load(__import__("aimodel.config", fromlist=["dump_config"]).dump_config(cfg))
    assert dumped["search"]["space"]["training.batch_size"] == {"int": [16, 48]}  # written back as the user wrote it


def test_tune_and_cv_refuse_multi_worker_and_read_auto_as_one_process(tmp_path, monkeypatch):
    from aimodel.errors import ConfigError
    from aimodel.search.process import one_process

    cfg = load_config(write_config(tmp_path / "tiny.yaml", TINY))
    assert one_process(cfg, "cv") is cfg  # no cluster: auto stays auto
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                                                "task": {"type": "worker", "index": 1}}))
    assert one_process(cfg, "cv").training.distribute == "none"
    multi = cfg.model_copy(update={"training": cfg.training.model_copy(update={"distribute": "multi_worker"})})
    with pytest.raises(ConfigError, match=r"`aimodel tune` trains its runs one after another in one process"):
        one_process(multi, "tune")
    result = _invoke("cv", write_config(tmp_path / "multi.yaml", {**TINY, "training": {
        **TINY["training"], "distribute": "multi_worker"}}), "--folds", 2, "--runs-root", tmp_path / "runs")
    assert result.exit_code == 1 and "one process" in result.output and "Traceback" not in result.output


def test_a_failing_fold_is_reported_and_the_others_still_count(tmp_path, monkeypatch):
    import tensorflow as tf

    from aimodel.training import runner

    train = runner.train

    def out_of_memory_in_fold_1(cfg, *, run_dir, **kwargs):
        if Path(run_dir).name == "fold-1":
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor\n\t [[{{node conv}}]]")
        return train(cfg, run_dir=run_dir, **kwargs)

    monkeypatch.setattr(runner, "train", out_of_memory_in_fold_1)
    config = write_config(tmp_path / "tiny.yaml", {**TINY, "training": {**TINY["training"], "epochs": 1}})
    result = _invoke("cv", config, "--folds", 2, "--runs-root", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    assert "fold 1/2: failed: ResourceExhaustedError: OOM when allocating tensor" in result.output
    report = json.loads((tmp_path / "runs" / "tiny" / "cv-1" / "cv.json").read_text())
    first, second = report["per_fold"]
    assert first["status"] == "failed" and first["test_accuracy"] is None and "\n" not in first["message"]
    assert second["status"] == "completed" and report["failed"] == 1
    assert report["summary"]["test_accuracy"] == {"mean": pytest.approx(second["test_accuracy"], abs=1e-6), "std": 0.0}
    assert "1 of 2 folds failed" in result.output


def test_cv_fails_in_one_line_when_every_fold_diverges(tmp_path, monkeypatch):
    from aimodel.training.callbacks import RunCallback

    begin = RunCallback.on_epoch_begin

    def poisoned(self, epoch, logs=None):  # a NaN weight: the loss is NaN in every fold, whatever the data
        begin(self, epoch, logs)
        kernel = self.model.get_layer("predictions").kernel
        kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))

    monkeypatch.setattr(RunCallback, "on_epoch_begin", poisoned)
    config = write_config(tmp_path / "tiny.yaml", {**TINY, "training": {**TINY["training"], "epochs": 1}})
    result = _invoke("cv", config, "--folds", 2, "--runs-root", tmp_path / "runs")
    assert result.exit_code == 1 and "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: every fold failed (fold 1: loss became nan at epoch 1"), result.output
    assert "cv.json" in last
    report = json.loads((tmp_path / "runs" / "tiny" / "cv-1" / "cv.json").read_text())
    assert [f["status"] for f in report["per_fold"]] == ["failed", "failed"]
