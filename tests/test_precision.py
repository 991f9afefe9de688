"""training.precision: auto resolves per machine and is recorded; a mixed-precision model exports in float32."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from aimodel.cli import main
from aimodel.export.graph import float32_file
from aimodel.training.precision import cpu_flags, resolve
from tests.conftest import TINY, write_config


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_auto_is_bfloat16_only_on_a_cpu_with_bf16_instructions_and_no_gpu():
    assert resolve("auto", 0, {"avx512f", "avx512_bf16"}) == "mixed_bfloat16"
    assert resolve("auto", 0, {"amx_bf16", "amx_tile"}) == "mixed_bfloat16"
    assert resolve("auto", 0, {"avx512f", "avx2"}) == "float32"  # bf16 would be emulated: slower
    assert resolve("auto", 1, {"avx512_bf16"}) == "float32"      # GPUs: chosen by hand
    assert resolve("auto", 0, set()) == "float32"
    for fixed in ("float32", "mixed_bfloat16", "mixed_float16"):
        assert resolve(fixed, 0, {"avx512_bf16"}) == fixed


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx512_bf16 avx512f\n\n"
                    "processor\t: 1\nflags\t\t: fpu sse avx512_bf16 avx512f\n")
    assert cpu_flags(info) == {"fpu", "sse", "avx512_bf16", "avx512f"}
    assert cpu_flags(tmp_path / "missing") == set()


def test_a_run_records_what_auto_resolved_to_and_resumes_with_it(tmp_path):
    config = write_config(tmp_path / "auto.yaml", dict(TINY, training={**TINY["training"], "precision": "auto"}))
    run = tmp_path / "run"
    result = _invoke("train", config, "--run-dir", run, "--quiet")
    assert result.exit_code == 0, result.output
    recorded = yaml.safe_load((run / "config.yaml").read_text())["training"]["precision"]
    assert recorded == resolve("auto", 0) and recorded != "auto"
    saved = zipfile.ZipFile(run / "best.keras").read("config.json").decode()
    assert ("mixed_bfloat16" in saved) == (recorded == "mixed_bfloat16")
    result = _invoke("train", "--resume", run, "--set", "training.epochs=3", "--quiet")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((run / "config.yaml").read_text())["training"]["precision"] == recorded


@pytest.fixture(scope="module")
def bf16_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("bf16")
    config = write_config(tmp / "bf16.yaml", dict(TINY, training={**TINY["training"], "precision": "mixed_bfloat16"}))
    result = _invoke("train", config, "--run-dir", tmp / "run", "--quiet")
    assert result.exit_code == 0, result.output
    return tmp / "run"


def test_the_float32_equivalent_keeps_the_weights_and_computes_in_float32(bf16_run, tmp_path):
    from aimodel.inference.checkpoint import load_model

    dest = tmp_path / "f32.keras"
    assert float32_file(bf16_run / "best.keras", dest)
    assert "mixed_" not in zipfile.ZipFile(dest).read("config.json").decode()
    mixed, plain = load_model(bf16_run / "best.keras"), load_model(dest)
    assert {layer.dtype_policy.name for layer in mixed.layers} >= {"mixed_bfloat16"}
    assert {layer.dtype_policy.name for layer in plain.layers} == {"float32"}
    for a, b in zip(mixed.get_weights(), plain.get_weights()):
        assert (a == b).all()
    assert not float32_file(dest, tmp_path / "again.keras")  # already float32: nothing to do
    assert not (tmp_path / "again.keras").exists()


@pytest.mark.export
def test_a_mixed_precision_model_exports_to_every_format(bf16_run):
    # tf2onnx writes a bfloat16 graph with float16 and bfloat16 tensors that ONNX Runtime refuses to load.
    result = _invoke("export", bf16_run, "--format", "all", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {r["format"] for r in report["exports"]} == {"tflite", "onnx", "saved_model"}
    assert all(r["status"] == "ok" for r in report["exports"]), report["exports"]
    assert any("mixed precision" in n for n in report["notes"])
