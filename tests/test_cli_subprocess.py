"""What only a real process shows: exit codes, stderr, start-up imports."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.subprocess


def _run(*args, cwd=None, env_extra=None):
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI itself must hide TensorFlow's noise
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "aimodel", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=300)


def test_train_evaluate_predict_as_real_processes(tiny_config, tmp_path):
    train = _run("train", tiny_config, "--runs-root", tmp_path / "runs", "--set", "training.epochs=1")
    assert train.returncode == 0, train.stderr
    assert "epoch 1/1" in train.stdout  # plain per-epoch lines when stdout is not a terminal
    run_dir = tmp_path / "runs" / "tiny" / "1"
    assert str(run_dir) in train.stdout
    assert train.stderr.strip() == "", train.stderr  # no oneDNN/CUDA start-up lines

    evaluate = _run("evaluate", run_dir, "--json")
    assert evaluate.returncode == 0, evaluate.stderr
    predict = _run("predict", ROOT / "examples" / "digit_3.png", "--model", run_dir)
    assert predict.returncode == 0, predict.stderr
    assert "digit_3.png" in predict.stdout


def test_bad_config_exits_1_without_traceback_unless_debug(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset:\n  name: digits\nmodel:\n  architecture: cnn\ntraining:\n  epoch: 3\n")
    plain = _run("train", bad)
    assert plain.returncode == 1
    assert "training.epoch: unknown key (did you mean 'epochs'?)" in plain.stderr
    assert "Traceback" not in plain.stderr
    debug = _run("--debug", "train", bad)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_help_and_config_commands_do_not_import_tensorflow(tiny_config):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from aimodel.cli import main\n"
        "r = CliRunner()\n"
        "assert r.invoke(main, ['--help']).exit_code == 0\n"
        f"assert r.invoke(main, ['config', 'show', {str(tiny_config)!r}]).exit_code == 0\n"
        "assert r.invoke(main, ['config', 'schema']).exit_code == 0\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_console_script_and_version():
    exe = os.path.join(os.path.dirname(sys.executable), "aimodel")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "aimodel, version" in out.stdout
