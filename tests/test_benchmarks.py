"""The benchmark harness's own logic (the benchmarks themselves run with `make bench`)."""

import gzip
import struct

import numpy as np
import pytest

from benchmarks import data, report
from benchmarks.figure_base import Figure
from benchmarks.harness import alternate, median


def _idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_read_idx_round_trips_images_and_labels(tmp_path):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    _idx(tmp_path / "i.gz", images)
    _idx(tmp_path / "l.gz", np.array([7, 0, 9]))
    assert np.array_equal(data.read_idx(tmp_path / "i.gz"), images)
    assert data.read_idx(tmp_path / "l.gz").tolist() == [7, 0, 9]


def test_read_idx_rejects_a_truncated_file(tmp_path):
    header = struct.pack(">BBBBI", 0, 0, 8, 1, 10)
    (tmp_path / "bad.gz").write_bytes(gzip.compress(header + b"\x01\x02"))
    with pytest.raises(ValueError, match="holds 2 bytes"):
        data.read_idx(tmp_path / "bad.gz")


def test_prepare_splits_mnist_8000_2000(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    _idx(tmp_path / data.IMAGES, rng.integers(0, 256, (10000, 2, 2)))
    _idx(tmp_path / data.LABELS, np.arange(10000) % 10)
    monkeypatch.setenv("AIMODEL_MNIST_DIR", str(tmp_path))
    monkeypatch.setattr(data, "OUT", tmp_path / "out")
    path, what = data.prepare()
    with np.load(path) as f:
        assert f["x_train"].shape == (8000, 2, 2) and f["x_test"].shape == (2000, 2, 2)
        assert f["y_test"][0] == 8000 % 10
    assert "MNIST" in what


def test_alternate_swaps_the_order_every_repetition():
    order = []
    out = alternate(4, {"peer": None, "aimodel": None}, lambda side, _, rep: order.append(side) or rep)
    assert order == ["peer", "aimodel", "aimodel", "peer"] * 2
    assert out == {"peer": [0, 1, 2, 3], "aimodel": [0, 1, 2, 3]}
    assert median([3.0, None, 1.0, 2.0]) == 2.0


def test_report_shows_unmet_and_unmeasured_targets():
    meta = {"machine": {"cpu_model": "X", "cores_used": 2, "cores_online": 4, "pinned_cpus": [0, 1],
                        "memory_gb": 8, "os": "Linux", "python": "3.11"},
            "settings": {"reps": 3}, "data": "d", "started": "now", "seconds": 1.0,
            "load_start": [], "load_end": []}
    figures = [Figure("1", "throughput", "≥ 1.5×", 120.0, 100.0, "samples/s", 1.2, met=False),
               Figure("6", "memory", "report", status="not measured yet (needs X)")]
    md = report.render(figures, meta)
    assert "| 1 | throughput | 120 samples/s | 100 samples/s | 1.20× | ≥ 1.5× | **not met** |" in md
    assert "not measured yet (needs X)" in md
    assert "Tried:" in md


def test_report_says_where_the_onednn_kernels_ran():
    meta = {"machine": {"cpu_model": "X", "cores_used": 2, "cores_online": 2, "pinned_cpus": [0, 1],
                        "memory_gb": 8, "os": "Linux", "python": "3.11", "instruction_sets": ["avx2"],
                        "onednn": {"aimodel": True, "peer": False}},
            "settings": {"reps": 1}, "data": "d", "started": "now", "seconds": 1.0, "load_start": [], "load_end": []}
    md = report.render([], meta)
    assert "oneDNN kernels: aimodel on, peer scripts off (TensorFlow's default on this CPU" in md
    meta["machine"]["onednn"] = {"aimodel": True, "peer": True}
    md = report.render([], meta)
    assert "aimodel on, peer scripts on" in md and "TensorFlow's default on this CPU" not in md


def test_peer_scripts_start_without_aimodels_onednn_setting(monkeypatch):
    """What aimodel set in this process is not handed to a peer; what the user set is."""
    from aimodel import hardware
    from benchmarks.harness import start_environ

    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    monkeypatch.setattr(hardware, "onednn_set_here", True)
    assert "TF_ENABLE_ONEDNN_OPTS" not in start_environ()
    monkeypatch.setattr(hardware, "onednn_set_here", False)  # the user's own setting: both sides get it
    assert start_environ()["TF_ENABLE_ONEDNN_OPTS"] == "1"


def test_tables_rows_are_means_over_the_seeds_with_a_one_point_target():
    from benchmarks import tables_real
    from benchmarks.figures import FIGURES

    run = {"majority": 0.5, "epochs": 40, "seconds": 10.0}
    results = {"breast_cancer": [{**run, "model": 0.97, "lr": 0.98}, {**run, "model": 0.98, "lr": 0.98}],
               "wine": [{**run, "model": 0.95, "lr": 0.98}, {**run, "model": 0.97, "lr": 0.98}]}
    close, behind = tables_real.figures(results, [1, 2])
    assert (close.id, close.aimodel, close.peer, close.unit) == ("13a", 0.975, 0.98, "accuracy")
    assert close.details["difference_points"] == -0.5 and close.met is True
    assert behind.id == "13b" and behind.details["difference_points"] == -2.0 and behind.met is False
    assert behind.details["per_seed"] == [[0.95, 0.98], [0.97, 0.98]]
    assert "tables" in FIGURES
    meta = {"machine": {"cpu_model": "X", "cores_used": 2, "cores_online": 4, "pinned_cpus": [0, 1],
                        "memory_gb": 8, "os": "Linux", "python": "3.11"},
            "settings": {"reps": 2}, "data": "d", "started": "now", "seconds": 1.0, "load_start": [], "load_end": []}
    md = report.render([close, behind], meta)
    assert "| 13a | " in md and "| 97.50% | 98.00% | — | within 1 point of the baseline or better | met |" in md
    assert "| 96.00% | 98.00% | — |" in md and "**not met**" in md


def test_figure_1s_target_follows_the_cpus_bf16(monkeypatch):
    """Issue 31: ≥ 2.5× where bf16 instructions are in use, ≥ 2.0× without (a capped oneDNN counts as without)."""
    from aimodel import hardware
    from benchmarks import figures

    monkeypatch.setattr(hardware, "cpu_flags", lambda *a: {"avx512f", "avx512_bf16"})
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    assert figures.seed_target() == 2.5
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", figures.NO_BF16_CAP)
    assert figures.seed_target() == 2.0
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setattr(hardware, "cpu_flags", lambda *a: {"avx512f", "avx512_vnni"})
    assert figures.seed_target() == 2.0
    assert "seed_nobf16" in figures.FIGURES


def test_a_run_of_some_groups_never_replaces_the_full_runs_report():
    from benchmarks.__main__ import PARTIAL, results_folder
    from benchmarks.figures import FIGURES
    from benchmarks.harness import ROOT

    assert results_folder(list(FIGURES)) == ROOT / "benchmarks"
    assert results_folder(["seed", "serve"]) == PARTIAL
    assert PARTIAL.is_relative_to(ROOT / "benchmarks" / "out")  # ignored by git
