"""Run records without training: runs list, statuses, metrics.csv repair, curves, links, lock."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from aimodel.cli import main
from aimodel.errors import CheckpointError
from aimodel.training import checkpointing as ckpt
from aimodel.training.records import append_metrics_row, list_runs, read_metrics, truncate_metrics
from aimodel.training.rundir import RunLock, is_locked


def _fake_run(root, name, n, status, epochs_done=2, epochs=5, started="2026-01-02T10:00:00+0000"):
    run = root / name / str(n)
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"name": name, "status": status, "started": started,
                                                   "epochs": epochs}))
    if epochs_done:
        (run / "state.json").write_text(json.dumps({"epoch": epochs_done, "monitor": "val_accuracy",
                                                     "best_value": 0.9, "best_epoch": 1}))
    return run


def test_runs_list_shows_every_status(tmp_path):
    _fake_run(tmp_path, "a", 1, "finished", 5, started="2026-01-01T09:00:00+0000")
    _fake_run(tmp_path, "a", 2, "failed", 1)
    _fake_run(tmp_path, "b", 1, "interrupted", 2)
    killed = _fake_run(tmp_path, "b", 2, "running", 3)  # kill -9: status never updated, nobody holds the lock
    live = _fake_run(tmp_path, "c", 1, "running", 0)
    with RunLock(live):
        runs = list_runs(tmp_path)
        result = CliRunner().invoke(main, ["runs", "list", str(tmp_path), "--json"])
        table = CliRunner().invoke(main, ["runs", "list", str(tmp_path)], env={"COLUMNS": "160"})
    assert [(r.name, r.status) for r in runs] == [
        ("a", "finished"), ("a", "failed"), ("b", "interrupted"), ("b", "interrupted"), ("c", "running")]
    assert result.exit_code == 0
    data = {d["path"]: d for d in json.loads(result.output)}
    assert data[str(killed)]["status"] == "interrupted" and data[str(killed)]["epochs_completed"] == 3
    assert table.exit_code == 0
    for text in ("5/5", "val_accuracy 0.9000 @1", "interrupted", "failed", "running", "2026-01-01 09:00"):
        assert text in table.output
    assert "no runs under" in CliRunner().invoke(main, ["runs", "list", str(tmp_path / "none")]).output


def test_lock_refuses_a_second_trainer(tmp_path):
    from aimodel.training.runner import resume

    run = _fake_run(tmp_path, "a", 1, "running", 0)
    (run / "config.yaml").write_text("name: a\ndataset: {name: digits}\nmodel: {architecture: cnn}\n")
    (run / "meta.json").write_text("{}")
    with RunLock(run):
        assert is_locked(run)
        with pytest.raises(CheckpointError, match="another aimodel process is training"):
            resume(run)
    assert not is_locked(run)


def test_truncate_metrics_drops_uncommitted_and_torn_rows(tmp_path):
    for e in (1, 2, 3):
        append_metrics_row(tmp_path, {"epoch": e, "loss": 1.0 / e, "seconds": 0.1})
    with open(tmp_path / "metrics.csv", "a") as f:
        f.write("4,0.2")  # a row cut short by kill -9
    assert [r["epoch"] for r in read_metrics(tmp_path)] == ["1", "2", "3"]
    truncate_metrics(tmp_path, 2)
    assert [r["epoch"] for r in read_metrics(tmp_path)] == ["1", "2"]
    append_metrics_row(tmp_path, {"epoch": 3, "loss": 0.5, "seconds": 0.1})
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0] == "epoch,loss,seconds"


def test_curves_png(tmp_path):
    from aimodel.training.plots import write_curves

    assert write_curves(tmp_path) is False
    for e in (1, 2, 3):
        append_metrics_row(tmp_path, {"epoch": e, "accuracy": 0.5 + e / 10, "loss": 1 / e, "val_accuracy": 0.6,
                                      "val_loss": 0.9 / e, "learning_rate": 0.001, "seconds": 0.2})
    assert write_curves(tmp_path) is True
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_publish_repairs_links_and_prunes(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    for e in (1, 2, 3):
        (tmp_path / ckpt.checkpoint_name(e)).write_bytes(f"model {e}".encode())
    (tmp_path / "checkpoints" / ".epoch-0004.keras.abc.keras").write_bytes(b"half")
    (tmp_path / ".state.json.xyz.tmp").write_text("{")
    state = ckpt.RunState(epoch=3, global_step=30, steps_per_epoch=10, checkpoint=ckpt.checkpoint_name(3),
                          monitor="val_accuracy", mode="max", best_value=0.9, best_epoch=2,
                          best_checkpoint=ckpt.checkpoint_name(2))
    ckpt.commit(tmp_path, state)
    assert (tmp_path / "last.keras").read_bytes() == b"model 3"
    assert (tmp_path / "best.keras").read_bytes() == b"model 2"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["epoch-0002.keras", "epoch-0003.keras"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != ".lock"]
    assert ckpt.read_state(tmp_path) == state
    os.remove(tmp_path / ckpt.checkpoint_name(2))
    with pytest.raises(CheckpointError, match="epoch-0002.keras: missing"):
        ckpt.read_state(tmp_path)
