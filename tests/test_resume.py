"""Real-process tests of crash safety and exact resume (kill -9, Ctrl-C, NaN).

Each fault is injected at a deterministic point by tests/_resume_support.DRIVER,
which runs the real CLI in a subprocess; SIGKILL gives the process no chance to
clean up, exactly like ``kill -9`` from a shell.
"""

from __future__ import annotations

import json
import shutil
import signal

import numpy as np
import pytest

from tests._resume_support import STEPS_PER_EPOCH, aimodel, metrics_without_time, weights, write_config

pytestmark = pytest.mark.subprocess


def _state(run_dir) -> dict:
    return json.loads((run_dir / "state.json").read_text())


def _summary(run_dir) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def _same_weights(a, b) -> bool:
    wa, wb = weights(a), weights(b)
    return len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted deterministic 3-epoch run, trained in its own process."""
    tmp = tmp_path_factory.mktemp("reference")
    cfg = write_config(tmp)
    proc = aimodel(["train", str(cfg), "--run-dir", "ref", "-q"], tmp)
    assert proc.returncode == 0, proc.stderr
    return tmp / "ref"


def _resume_in_process(run_dir, overrides=()):
    from aimodel.training.runner import resume

    return resume(run_dir, overrides=overrides)


def test_kill9_mid_epoch_then_resume_matches_uninterrupted(reference, tmp_path):
    cfg = write_config(tmp_path)
    killed = aimodel(["train", str(cfg), "--run-dir", "run", "-q"], tmp_path, fault="kill_batch:2,16")
    run = tmp_path / "run"
    assert killed.returncode == -signal.SIGKILL
    assert _state(run)["epoch"] == 1  # epoch 2 was cut short after 16 of 41 steps
    assert _summary(run)["status"] == "running"  # it never got to say otherwise

    from aimodel.training.records import list_runs

    assert [r.status for r in list_runs(tmp_path)] == ["interrupted"]

    resumed = aimodel(["train", "--resume", "run"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 1" in resumed.stdout
    assert _state(run)["global_step"] == _state(reference)["global_step"] == 3 * STEPS_PER_EPOCH
    assert _same_weights(run / "last.keras", reference / "last.keras")
    # Same seed, same epochs: identical metrics (timings aside), rows of epoch 2 not duplicated.
    assert metrics_without_time(run) == metrics_without_time(reference)
    summary = _summary(run)
    assert summary["status"] == "finished"
    assert [s["from_epoch"] for s in summary["sessions"]] == [0, 1]
    assert (run / "curves.png").stat().st_size > 1000


def test_same_seed_twice_gives_identical_metrics(reference, tmp_path):
    import aimodel as api

    cfg = api.load_config(write_config(tmp_path))
    result = api.train(cfg, run_dir=tmp_path / "again")
    assert result.global_step == 3 * STEPS_PER_EPOCH
    assert metrics_without_time(tmp_path / "again") == metrics_without_time(reference)
    assert _same_weights(tmp_path / "again" / "last.keras", reference / "last.keras")


def test_kill_during_checkpoint_write_keeps_last_good_checkpoint(reference, tmp_path):
    cfg = write_config(tmp_path)
    killed = aimodel(["train", str(cfg), "--run-dir", "run", "-q"], tmp_path, fault="kill_write:2")
    run = tmp_path / "run"
    assert killed.returncode == -signal.SIGKILL
    leftovers = [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
    assert leftovers, "the half-written temporary file should be there"
    assert _state(run)["epoch"] == 1
    weights(run / "last.keras")  # the last good checkpoint loads (safe mode)
    weights(run / _state(run)["checkpoint"])

    result = _resume_in_process(run)
    assert result.global_step == 3 * STEPS_PER_EPOCH
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
    assert _same_weights(run / "last.keras", reference / "last.keras")


def test_kill_during_background_checkpoint_write_resumes_exactly(reference, tmp_path):
    # Epoch 2 is written by the background writer while epoch 3 trains; kill -9 half-way through the file.
    cfg = write_config(tmp_path)
    killed = aimodel(["train", str(cfg), "--run-dir", "run", "-q"], tmp_path, fault="kill_async_write:2")
    run = tmp_path / "run"
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _state(run)["epoch"] == 1
    assert [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")], "half-written file"
    assert len(metrics_without_time(run)) == 1  # epoch 2's row follows its file, so it was never written
    weights(run / "last.keras")

    result = _resume_in_process(run)
    assert result.global_step == 3 * STEPS_PER_EPOCH
    assert metrics_without_time(run) == metrics_without_time(reference)
    assert _same_weights(run / "last.keras", reference / "last.keras")


@pytest.mark.parametrize("point, committed", [("kill_before_state", 1), ("kill_before_links", 2)])
def test_kill_between_checkpoint_steps_resumes_exactly(reference, tmp_path, point, committed):
    cfg = write_config(tmp_path)
    killed = aimodel(["train", str(cfg), "--run-dir", "run", "-q"], tmp_path, fault=f"{point}:2")
    run = tmp_path / "run"
    assert killed.returncode == -signal.SIGKILL
    assert _state(run)["epoch"] == committed
    weights(run / "last.keras")
    if point == "kill_before_state":
        # Epoch 2's file and metrics row exist, but were never committed: the resume redoes epoch 2.
        assert (run / "checkpoints" / "epoch-0002.keras").exists()
        assert len(metrics_without_time(run)) == 2
    result = _resume_in_process(run)
    assert result.global_step == 3 * STEPS_PER_EPOCH
    assert metrics_without_time(run) == metrics_without_time(reference)
    assert _same_weights(run / "last.keras", reference / "last.keras")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-0003.keras"]


def test_nan_loss_stops_with_message_and_keeps_checkpoint(tmp_path):
    cfg = write_config(tmp_path)
    proc = aimodel(["train", str(cfg), "--run-dir", "run"], tmp_path, fault="nan:2")
    run = tmp_path / "run"
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "became nan at epoch 2" in proc.stderr
    assert "last good checkpoint (epoch 1)" in proc.stderr
    assert f"aimodel train --resume {run.name}" in proc.stderr.replace(str(tmp_path) + "/", "")
    assert _state(run)["epoch"] == 1
    assert all(np.isfinite(w).all() for w in weights(run / "last.keras"))
    summary = _summary(run)
    assert summary["status"] == "failed" and "nan" in summary["error"]


def test_ctrl_c_saves_and_prints_resume_command(tmp_path):
    cfg = write_config(tmp_path)
    proc = aimodel(["train", str(cfg), "--run-dir", "run"], tmp_path, fault="sigint_batch:2,16")
    run = tmp_path / "run"
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "aimodel train --resume run\n" in proc.stderr  # the path as the user gave it
    assert "epoch 1 of 3 is saved" in proc.stderr
    assert _summary(run)["status"] == "interrupted"
    assert _state(run)["epoch"] == 1

    from aimodel.training.records import list_runs

    assert [r.status for r in list_runs(tmp_path)] == ["interrupted"]


def test_resume_with_more_epochs_extends_a_finished_run(reference, tmp_path):
    from click.testing import CliRunner

    from aimodel.cli import main

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    refused = CliRunner().invoke(main, ["train", "--resume", str(run)])
    assert refused.exit_code == 1
    assert "has trained all 3 epochs" in refused.output and "--set training.epochs=" in refused.output

    wrong = CliRunner().invoke(main, ["train", "--resume", str(run), "--set", "model.dense=[4]"])
    assert wrong.exit_code == 1 and "only training.* keys" in wrong.output

    result = _resume_in_process(run, ["training.epochs=4"])
    assert result.epochs == 4 and result.resumed_from == 3
    assert result.global_step == 4 * STEPS_PER_EPOCH
    rows = metrics_without_time(run)
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[:3] == metrics_without_time(reference)
    assert "epochs: 4" in (run / "config.yaml").read_text()
