"""The training section: every hyperparameter validated at load time, with key paths."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from aimodel.config import load_config
from aimodel.errors import ConfigError


def _write(tmp_path, training: dict):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({
        "name": "t", "dataset": {"name": "digits"}, "model": {"architecture": "cnn"}, "training": training,
    }), encoding="utf-8")
    return path


def test_defaults_and_full_section_load(tmp_path):
    cfg = load_config(_write(tmp_path, {
        "epochs": 20, "optimizer": "sgd", "nesterov": True, "momentum": 0.8,
        "lr_schedule": {"type": "cosine", "warmup_epochs": 2, "min_lr": 1e-5},
        "early_stopping": {"patience": 3, "monitor": "val_loss"},
        "class_weight": {0: 2.0, "3": 0.5}, "gradient_clip_norm": 1.0, "label_smoothing": 0.1,
        "precision": "mixed_bfloat16", "steps_per_execution": 8, "jit_compile": False, "deterministic": True,
    }))
    t = cfg.training
    assert t.lr_schedule.warmup_epochs == 2 and t.early_stopping.restore_best is True
    assert t.monitors(has_validation=True) == ("val_accuracy", "val_loss")
    assert t.monitors(has_validation=False) == ("accuracy", "loss")
    assert load_config(_write(tmp_path, {})).training.early_stopping is None


@pytest.mark.subprocess
def test_config_and_runs_commands_do_not_import_tensorflow(tmp_path):
    path = _write(tmp_path, {"lr_schedule": {"type": "cosine", "warmup_epochs": 1}})
    code = (
        "import sys; from click.testing import CliRunner; from aimodel.cli import main\n"
        f"assert CliRunner().invoke(main, ['config', 'validate', {str(path)!r}]).exit_code == 0\n"
        f"assert CliRunner().invoke(main, ['runs', 'list', {str(tmp_path)!r}]).exit_code == 0\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported TensorFlow'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("training, where, message", [
    ({"epochs": 3, "lr_schedule": {"type": "cosine", "warmup_epochs": 3}},
     r"c\.yaml:\d+: training\.lr_schedule\.warmup_epochs", r"must be less than training\.epochs \(3\), got 3"),
    ({"lr_schedule": {"type": "cosine", "patience": 2}},
     r"training\.lr_schedule\.patience", r"not used by lr_schedule\.type 'cosine' \(only by plateau\)"),
    ({"lr_schedule": {"type": "cosine", "min_lr": 0.01}, "learning_rate": 0.001},
     r"training\.lr_schedule\.min_lr", r"less than training\.learning_rate"),
    ({"optimizer": "adam", "nesterov": True}, r"training\.nesterov", r"sgd only"),
    ({"gradient_clip_norm": 1.0, "gradient_clip_value": 0.5}, r"training\.gradient_clip_value", r"not both"),
    ({"class_weight": {2: -1}}, r"training\.class_weight\[2\]", r"must be > 0"),
    ({"class_weight": "balance"}, r"training\.class_weight", r"balanced"),
    ({"precision": "float16"}, r"training\.precision", r"mixed_float16"),
    ({"early_stopping": {"patience": 0}}, r"training\.early_stopping\.patience", r"≥ 1"),
    ({"lr_schedule": {"type": "plateau", "factor": 1.5}}, r"training\.lr_schedule\.factor", r"< 1"),
    ({"lr_schedule": {"kind": "cosine"}}, r"training\.lr_schedule\.kind", r"unknown key"),
    ({"eval_batch_size": 0}, r"training\.eval_batch_size", r"'auto' or at least 1, got 0"),
])
def test_invalid_training_values_name_the_key(tmp_path, training, where, message):
    with pytest.raises(ConfigError, match=where) as info:
        load_config(_write(tmp_path, training))
    assert re.search(message, str(info.value)), str(info.value)


def test_cross_field_error_from_set_names_the_override(tmp_path):
    path = _write(tmp_path, {"epochs": 5, "lr_schedule": {"type": "cosine", "warmup_epochs": 2}})
    with pytest.raises(ConfigError, match=r"training\.lr_schedule\.warmup_epochs: must be less than "
                       r"training\.epochs \(2\), got 2"):
        load_config(path, ["training.epochs=2"])


def test_spelling_out_a_default_of_another_schedule_is_allowed(tmp_path):
    cfg = load_config(_write(tmp_path, {"lr_schedule": {"type": "plateau", "warmup_epochs": 0}}))
    assert cfg.training.lr_schedule.type == "plateau"


@pytest.mark.parametrize("batch, setting, expected", [
    (32, "auto", 256),    # aimodel evaluate's batch
    (8, "auto", 64),      # at most 8 × a small (memory-bound) training batch
    (512, "auto", 512),   # never below the training batch
    (32, 100, 100),       # as given
])
def test_validation_batch_size(tmp_path, batch, setting, expected):
    cfg = load_config(_write(tmp_path, {"batch_size": batch, "eval_batch_size": setting}))
    assert cfg.training.validation_batch_size == expected


def test_validation_split_is_scored_at_the_validation_batch_size(tmp_path, monkeypatch):
    """The runner batches the validation split at ``eval_batch_size`` and training at ``batch_size``."""
    import aimodel as api
    from aimodel.data import pipeline

    seen = []
    real = pipeline.make_dataset

    def spy(split, batch_size, **kw):
        seen.append((len(split), batch_size, kw.get("order") is not None))
        return real(split, batch_size, **kw)

    monkeypatch.setattr(pipeline, "make_dataset", spy)
    cfg = load_config(_write(tmp_path, {"epochs": 1, "batch_size": 16, "eval_batch_size": 48, "tensorboard": False}),
                      ["dataset.validation_split=0.2", "model.filters=[4]", "model.dense=[]"])
    api.train(cfg, run_dir=tmp_path / "run")
    ordered = [b for _, b, o in seen if o]
    unordered = [b for _, b, o in seen if not o]
    assert ordered == [16] and 48 in unordered, seen
