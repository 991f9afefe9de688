"""Hyperparameters doing what they say, in small in-process runs on sklearn digits."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests._resume_support import STEPS_PER_EPOCH, TINY, metrics_without_time
from aimodel.training.progress import Reporter

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _cfg(**training):
    from aimodel.config.loader import config_from_dict

    return config_from_dict({**TINY, "training": {**TINY["training"], **training}})


def _lrs(run_dir) -> list[float]:
    return [float(r["learning_rate"]) for r in metrics_without_time(run_dir)]


def test_cosine_warmup_schedule_and_records(tmp_path):
    from aimodel.training.runner import train

    result = train(_cfg(epochs=3, lr_schedule={"type": "cosine", "warmup_epochs": 1, "min_lr": 0.0003}),
                   run_dir=tmp_path / "run")
    lrs = _lrs(result.run_dir)
    # The rate after each epoch: warmup ends at the top, then cosine decay reaches min_lr at the end.
    assert lrs[0] == pytest.approx(0.003, rel=1e-4)
    assert 0.0003 < lrs[1] < 0.003
    assert lrs[2] == pytest.approx(0.0003, rel=1e-3)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["global_step"] == 3 * STEPS_PER_EPOCH
    assert summary["best_epoch"] in (1, 2, 3) and summary["wall_seconds"] > 0
    assert summary["samples_per_second"] > 0
    assert set(summary["versions"]) >= {"aimodel", "tensorflow", "keras"}
    files = {p.name for p in result.run_dir.iterdir()}
    assert {"config.yaml", "metrics.csv", "curves.png", "summary.json", "train.log", "state.json",
            "best.keras", "last.keras", "tensorboard"} <= files
    events = list((result.run_dir / "tensorboard").glob("*/events.out.tfevents.*"))
    assert {p.parent.name for p in events} == {"train", "validation"}
    log = (result.run_dir / "train.log").read_text()
    assert "epoch 3/3" in log
    assert re.search(r"checkpoints: training waited \d+\.\d\d s in all for the writer \(in the background\)", log), log


def test_step_decay_with_sgd_nesterov(tmp_path):
    from aimodel.training.runner import train

    result = train(_cfg(epochs=2, optimizer="sgd", nesterov=True, learning_rate=0.05,
                        lr_schedule={"type": "step", "factor": 0.5, "decay_epochs": 1}), run_dir=tmp_path / "run")
    assert _lrs(result.run_dir) == pytest.approx([0.025, 0.0125])


class _InterruptAt(Reporter):
    """Presses Ctrl-C right after epoch N is committed."""

    def __init__(self, epoch):
        self.epoch = epoch

    def epoch_end(self, epoch, logs, seconds, improved):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_plateau_and_early_stopping_state_survive_resume(tmp_path):
    from aimodel.errors import CheckpointError, TrainingInterrupted
    from aimodel.training.runner import resume, train

    # min_delta 1.0: accuracy can never improve "enough", so the rate halves after every epoch
    # from the second on, and early stopping ends the run after epoch 1 + patience.
    hp = dict(epochs=8, lr_schedule={"type": "plateau", "patience": 1, "factor": 0.5, "min_delta": 1.0},
              early_stopping={"patience": 3, "min_delta": 1.0})
    full = train(_cfg(**hp), run_dir=tmp_path / "full")
    assert full.stopped_early and full.epochs == 4
    assert _lrs(full.run_dir) == pytest.approx([0.003, 0.003, 0.0015, 0.00075])

    with pytest.raises(TrainingInterrupted, match="epoch 2 of 8 is saved"):
        train(_cfg(**hp), run_dir=tmp_path / "cut", reporter=_InterruptAt(2))
    state = json.loads((tmp_path / "cut" / "state.json").read_text())
    assert state["plateau"]["learning_rate"] == pytest.approx(0.0015) and state["early_stopping"]["wait"] == 1
    resumed = resume(tmp_path / "cut")
    assert resumed.stopped_early and resumed.epochs == 4 and resumed.resumed_from == 2
    assert metrics_without_time(tmp_path / "cut") == metrics_without_time(full.run_dir)

    with pytest.raises(CheckpointError, match="stopped early at epoch 4"):
        resume(tmp_path / "cut")


def test_regularisers_mixed_precision_and_xla(tmp_path):
    import keras

    from aimodel.inference.checkpoint import load_model
    from aimodel.training.runner import train

    result = train(_cfg(epochs=1, optimizer="adamw", class_weight="balanced", label_smoothing=0.1,
                        gradient_clip_norm=1.0, precision="mixed_bfloat16", jit_compile=True,
                        deterministic=False), run_dir=tmp_path / "run")
    assert keras.config.dtype_policy().name == "float32"  # restored for whoever trains next
    assert np.isfinite(result.final_metrics["loss"])
    model = load_model(result.run_dir / "best.keras")
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    assert model.get_layer("dense1").dtype_policy.name == "mixed_bfloat16"


def test_class_weights_balanced_and_by_name():
    from aimodel.data.base import DataBundle, Split
    from aimodel.data.spec import InputSpec
    from aimodel.errors import ConfigError
    from aimodel.training.optim import class_weights

    y = np.array([0, 0, 0, 1], dtype=np.int64)
    bundle = DataBundle(train=Split(np.zeros((4, 2, 2, 1), np.uint8), y), val=None,
                        test=Split(np.zeros((1, 2, 2, 1), np.uint8), y[:1]),
                        spec=InputSpec(kind="image", shape=(2, 2, 1), class_names=["cat", "dog"]))
    assert class_weights(_cfg(class_weight="balanced"), bundle) == pytest.approx({0: 4 / 6, 1: 2.0})
    assert class_weights(_cfg(class_weight={"dog": 3.0}), bundle) == {0: 1.0, 1: 3.0}
    with pytest.raises(ConfigError, match=r"training\.class_weight\.7: no such class"):
        class_weights(_cfg(class_weight={7: 2.0}), bundle)


class _InterruptInFirstEpoch(Reporter):
    def batch_end(self, epoch, step, logs):
        raise KeyboardInterrupt


def test_run_stopped_before_its_first_epoch_resumes_from_the_start(tmp_path):
    from aimodel.errors import TrainingInterrupted
    from aimodel.training.runner import resume, train

    with pytest.raises(TrainingInterrupted, match="no epoch had completed"):
        train(_cfg(epochs=2), run_dir=tmp_path / "run", reporter=_InterruptInFirstEpoch())
    assert not (tmp_path / "run" / "state.json").exists()
    result = resume(tmp_path / "run")
    assert result.global_step == 2 * STEPS_PER_EPOCH and result.resumed_from is None
    assert [r["epoch"] for r in metrics_without_time(result.run_dir)] == ["1", "2"]
