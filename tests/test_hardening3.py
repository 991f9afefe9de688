"""Regression tests for the third hardening round (issue 30): each reproduces the original failure.

Tests that start real processes are marked ``subprocess`` (they take seconds, not milliseconds).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aimodel.cli import main
from aimodel.fileio import atomic_save_model, atomic_write_json, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- 9. files written atomically get the mode a plain open() gives -----------------------------


@pytest.fixture
def umask():
    """Set the process umask for one test, then put the old one back."""
    old = os.umask(0o022)
    os.umask(old)

    def set_(value: int) -> None:
        os.umask(value)

    yield set_
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077], ids=["022", "002", "077"])
def test_atomic_writes_respect_the_umask(tmp_path, umask, mask):
    umask(mask)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write_text(tmp_path / "a.txt", "x")
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    assert _mode(tmp_path / "a.txt") == _mode(plain) == 0o666 & ~mask
    assert _mode(tmp_path / "a.json") == 0o666 & ~mask


def test_atomic_writes_keep_an_existing_files_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "config.yaml"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and _mode(path) == 0o640
    path.chmod(0o604)
    atomic_write_json(path, {})
    assert _mode(path) == 0o604


def test_an_atomically_saved_model_is_readable_by_others(tmp_path, umask):
    import keras

    umask(0o022)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    atomic_save_model(model, tmp_path / "best.keras")
    assert _mode(tmp_path / "best.keras") == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_every_file_of_a_run_has_the_mode_of_a_plain_file(trained_run, tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")  # what the umask of this test session gives
    modes = {str(p.relative_to(trained_run)): _mode(p) for p in trained_run.rglob("*") if p.is_file()}
    assert {"best.keras", "config.yaml", "meta.json", "metrics.csv"} <= set(modes)
    assert {name: m for name, m in modes.items() if m != _mode(plain)} == {}
