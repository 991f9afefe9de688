"""Regression tests for the adversarial sweep (issue 17): each reproduces the original failure."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from aimodel.cli import main
from aimodel.config import load_config
from aimodel.errors import ConfigError
from tests.conftest import TINY, write_config


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# --- 1. a decompression bomb among good images ------------------------------------------------


def test_a_decompression_bomb_does_not_stop_the_other_inputs(trained_run, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 2,000+ pixels now count as a bomb
    folder = tmp_path / "inputs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / f"good{i}.png")
    Image.new("L", (100, 100), 0).save(folder / "bomb.png")  # 10,000 pixels: over twice the limit
    out = tmp_path / "out.csv"
    result = _invoke("predict", folder, "--model", trained_run, "--output", out)
    assert result.exit_code == 1, result.output  # one input failed, the command did not abort
    assert "please report" not in result.output
    rows = out.read_text().splitlines()
    assert len(rows) == 1 + 4
    bomb = next(r for r in rows if "bomb.png" in r)
    assert "not a readable image (DecompressionBombError)" in bomb
    assert all(r.split(",")[1] for r in rows[1:] if "good" in r)  # the good ones have a class

    data = tmp_path / "labelled" / "0"
    data.mkdir(parents=True)
    shutil.copy(folder / "bomb.png", data / "bomb.png")
    evaluated = _invoke("evaluate", trained_run, "--data", tmp_path / "labelled", "--out", tmp_path / "ev")
    assert evaluated.exit_code == 1 and "DecompressionBombError" in evaluated.output
    assert "please report" not in evaluated.output


# --- 2. YAML that expands without bound ---------------------------------------------------------


def _laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\nname: x\ndataset: {name: digits}\nmodel: {architecture: cnn}\n"


@pytest.mark.timing
def test_billion_laughs_is_refused_at_once(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs(9))
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"expands to more than 100,000 values"):
        load_config(path)
    assert time.perf_counter() - start < 2.0


def test_billion_laughs_in_a_set_value_is_refused(tmp_path):
    config = write_config(tmp_path / "tiny.yaml", TINY)
    levels = ["a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 8)]
    with pytest.raises(ConfigError, match=r"--set model\.dense.*expands to more than"):
        load_config(config, ["model.dense={" + ", ".join(levels) + "}"])


def test_deep_nesting_and_huge_files_are_refused(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: x\nmodel: " + "[" * 200 + "]" * 200 + "\n")
    with pytest.raises(ConfigError, match=r"deep\.yaml.*(nested too deeply|maximum nesting depth)"):
        load_config(deep)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(ConfigError, match=r"big\.yaml: 1,048,579 bytes; a config file may be at most 1,048,576"):
        load_config(big)


def test_a_small_alias_still_works(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("name: ok\nsizes: &f [8]\ndataset: {name: digits}\nmodel: {architecture: cnn, filters: *f}\n")
    with pytest.raises(ConfigError, match=r"sizes: unknown key"):  # aliases are fine; the extra key is not
        load_config(path)


# --- 3, 4, 6. resume refuses what it cannot do exactly ------------------------------------------


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


def test_resume_without_state_json_keeps_the_checkpoints(run_copy):
    (run_copy / "state.json").unlink()
    before = sorted(p.name for p in (run_copy / "checkpoints").iterdir())
    result = _invoke("train", "--resume", run_copy, "--set", "training.epochs=9")
    assert result.exit_code == 1, result.output
    assert "has saved epochs" in result.output and "no state.json" in result.output
    assert f"aimodel train {run_copy / 'config.yaml'}" in result.output
    assert sorted(p.name for p in (run_copy / "checkpoints").iterdir()) == before and before


def test_resume_never_reads_a_checkpoint_outside_the_run(run_copy):
    state = json.loads((run_copy / "state.json").read_text())
    state["best_checkpoint"] = "../other-run/best.keras"
    (run_copy / "state.json").write_text(json.dumps(state))
    result = _invoke("train", "--resume", run_copy, "--set", "training.epochs=9")
    assert result.exit_code == 1
    assert "'../other-run/best.keras'" in result.output and "inside the run directory" in result.output


def test_resume_with_a_truncated_meta_json_blames_the_file(run_copy):
    meta = run_copy / "meta.json"
    meta.write_text(meta.read_text()[:40])
    result = _invoke("train", "--resume", run_copy, "--set", "training.epochs=9")
    assert result.exit_code == 1
    assert "meta.json: unreadable" in result.output and "dataset no longer matches" not in result.output


# --- 5. the user's disk, not a bug ---------------------------------------------------------------


def test_disk_full_while_checkpointing_is_a_clean_error(tiny_config, tmp_path, monkeypatch):
    from aimodel.training import checkpointing

    def full(model, path, check=None):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(checkpointing, "atomic_save_model", full)
    result = _invoke("train", tiny_config, "--runs-root", tmp_path / "runs", "--quiet")
    assert result.exit_code == 1, result.output
    assert "cannot write: no space left on the device" in result.output and "epoch-0001.keras" in result.output
    assert "please report" not in result.output


def test_a_read_only_runs_root_is_a_clean_error(tiny_config, tmp_path, monkeypatch):
    from aimodel.training import runner

    def read_only(path, text):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(runner, "atomic_write_text", read_only)
    result = _invoke("train", tiny_config, "--runs-root", tmp_path / "runs", "--quiet")
    assert result.exit_code == 1
    assert "config.yaml: cannot write: read-only file system" in result.output


# --- 6. messages that said the wrong thing ---------------------------------------------------------


def test_model_files_that_are_not_models(tmp_path):
    empty, noise = tmp_path / "empty.keras", tmp_path / "noise.keras"
    empty.write_bytes(b"")
    noise.write_bytes(os.urandom(300))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "x.png")
    for model, expected in ((empty, "cannot load model: empty file (0 bytes)"), (noise, "not a Keras model file")):
        result = _invoke("predict", tmp_path / "x.png", "--model", model)
        assert result.exit_code == 1 and expected in result.output and "File not found" not in result.output


def test_a_file_where_a_folder_is_expected(tmp_path):
    text = tmp_path / "passwd"
    text.write_text("root:x:0:0\n")
    path = write_config(tmp_path / "f.yaml", {"name": "f", "dataset": {"name": "image_folder", "path": str(text)},
                                              "model": {"architecture": "cnn"}})
    with pytest.raises(ConfigError, match=r"dataset\.path: expected a folder, but .*passwd is a file"):
        load_config(path)


def test_a_text_file_named_npz(tmp_path):
    from aimodel.data import load_data
    from aimodel.errors import DataError

    fake = tmp_path / "data.npz"
    fake.write_text("hello\n")
    cfg = load_config(write_config(tmp_path / "n.yaml", {"name": "n", "dataset": {"name": "npz", "path": str(fake)},
                                                         "model": {"architecture": "cnn"}}))
    with pytest.raises(DataError, match=r"not a readable \.npz file \(not a zip archive") as info:
        load_data(cfg.dataset, 0)
    assert "pickled" not in str(info.value)


@pytest.mark.subprocess
def test_a_killed_writer_leaves_no_temporary_behind(tmp_path):
    from aimodel.fileio import atomic_write_text

    target = tmp_path / "confusion_matrix.png"
    # A writer killed with -9 mid-write: its temporary file stays, named with its (now dead) pid.
    code = ("import os, signal, sys; from pathlib import Path; from aimodel.fileio import atomic_write\n"
            "def write(p):\n    Path(p).write_bytes(b'half'); os.kill(os.getpid(), signal.SIGKILL)\n"
            f"atomic_write({str(target)!r}, write, suffix='.png')\n")
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], check=False)
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".confusion_matrix.png.") and not target.exists()
    atomic_write_text(target, "complete")
    assert [p.name for p in tmp_path.iterdir()] == ["confusion_matrix.png"]
    assert target.read_text() == "complete"
