"""CPU feature detection: bf16 instructions from /proc/cpuinfo flags, capped by oneDNN's ONEDNN_MAX_CPU_ISA."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from aimodel.hardware import cpu_flags, has_bf16, onednn_isa_cap
from aimodel.training.precision import resolve

AMD_BF16 = {"avx512f", "avx512_vnni", "avx512_bf16"}
INTEL_VNNI = {"avx512f", "avx512_vnni"}  # the Xeon of issue 31: AVX-512 and VNNI, no AVX512_BF16
SAPPHIRE = {"avx512f", "avx512_vnni", "amx_tile", "amx_bf16"}


def test_cpu_flags_are_read_from_a_cpuinfo_file(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_vnni\n\nprocessor\t: 1\nflags\t\t: fpu avx512f avx512_vnni\n")
    assert cpu_flags(info) == {"fpu", "avx512f", "avx512_vnni"}
    assert not has_bf16(cpu_flags(info), env={})
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert cpu_flags(arm) == {"fp", "asimd", "bf16"}
    assert cpu_flags(tmp_path / "missing") == set()


def test_bf16_needs_the_instructions():
    assert has_bf16(AMD_BF16, env={})
    assert has_bf16(SAPPHIRE, env={})
    assert not has_bf16(INTEL_VNNI, env={})
    assert not has_bf16(set(), env={})


def test_onednn_isa_cap_below_bf16_counts_as_a_cpu_without_it():
    for cap in ("AVX512_CORE_VNNI", "avx512_core_vnni", "AVX512_CORE", "AVX2"):
        assert not has_bf16(AMD_BF16, env={"ONEDNN_MAX_CPU_ISA": cap}), cap
        assert not has_bf16(SAPPHIRE, env={"ONEDNN_MAX_CPU_ISA": cap}), cap
    assert not has_bf16(AMD_BF16, env={"DNNL_MAX_CPU_ISA": "AVX512_CORE_VNNI"})  # oneDNN's older name
    for cap in ("AVX512_CORE_BF16", "AVX512_CORE_AMX", "ALL", ""):
        assert has_bf16(AMD_BF16, env={"ONEDNN_MAX_CPU_ISA": cap}), cap
    assert not has_bf16(INTEL_VNNI, env={"ONEDNN_MAX_CPU_ISA": "ALL"})  # a cap never adds instructions
    assert onednn_isa_cap({"ONEDNN_MAX_CPU_ISA": " avx2 "}) == "AVX2"
    assert onednn_isa_cap({}) is None


def test_precision_auto_follows_the_cap():
    assert resolve("auto", 0, AMD_BF16, env={}) == "mixed_bfloat16"
    assert resolve("auto", 0, AMD_BF16, env={"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_VNNI"}) == "float32"
    assert resolve("auto", 0, INTEL_VNNI, env={}) == "float32"
    assert resolve("mixed_bfloat16", 0, INTEL_VNNI, env={}) == "mixed_bfloat16"  # an explicit choice stands


def test_precision_auto_reads_the_environment_by_default(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_VNNI")
    assert resolve("auto", 0, AMD_BF16) == "float32"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    assert resolve("auto", 0, AMD_BF16) == "mixed_bfloat16"


# --- TensorFlow's oneDNN kernels: on wherever the CPU has AVX2 and FMA --------------------------------------

ZEN3 = {"sse2", "sse4_2", "avx", "avx2", "fma"}  # AMD EPYC Zen 3: no AVX-512, so TensorFlow leaves oneDNN off


def test_onednn_is_chosen_on_cpus_with_avx2_and_fma():
    from aimodel.hardware import onednn_choice

    assert onednn_choice(ZEN3, env={}) == "1"
    assert onednn_choice(AMD_BF16 | {"avx2", "fma"}, env={}) == "1"  # TensorFlow's own default there: the same
    assert onednn_choice({"avx", "sse4_2"}, env={}) is None  # no AVX2: left to TensorFlow
    assert onednn_choice({"fp", "asimd", "bf16"}, env={}) is None  # ARM
    assert onednn_choice(set(), env={}) is None  # no /proc/cpuinfo
    assert onednn_choice(ZEN3, env={"TF_ENABLE_ONEDNN_OPTS": "0"}) is None  # the user's choice stands
    assert onednn_choice(ZEN3, env={"TF_ENABLE_ONEDNN_OPTS": ""}) is None


def test_prefer_onednn_sets_the_variable_only_before_tensorflow_loads():
    from aimodel.hardware import prefer_onednn

    env: dict = {}
    assert prefer_onednn(env, ZEN3, loaded={}) and env == {"TF_ENABLE_ONEDNN_OPTS": "1"}
    env = {}
    assert not prefer_onednn(env, ZEN3, loaded={"tensorflow": object()}) and env == {}  # too late: TF read it
    env = {"TF_ENABLE_ONEDNN_OPTS": "0"}
    assert not prefer_onednn(env, ZEN3, loaded={}) and env == {"TF_ENABLE_ONEDNN_OPTS": "0"}
    env = {}
    assert not prefer_onednn(env, {"avx"}, loaded={}) and env == {}


@pytest.mark.subprocess
def test_importing_aimodel_first_turns_tensorflows_onednn_kernels_on():
    """Through a real process: TensorFlow reports its oneDNN kernels on after ``import aimodel`` on any CPU
    with AVX2 and FMA, and the user's ``TF_ENABLE_ONEDNN_OPTS=0`` still turns them off."""
    if not {"avx2", "fma"} <= cpu_flags():
        pytest.skip("this CPU has no AVX2/FMA: aimodel leaves oneDNN to TensorFlow")
    probe = ("import aimodel, os; from tensorflow.python.util import _pywrap_util_port as p; "
             "print(p.IsMklEnabled(), os.environ.get('TF_ENABLE_ONEDNN_OPTS'))")
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    on = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert on.stdout.split()[-2:] == ["True", "1"]
    off = subprocess.run([sys.executable, "-c", probe], env={**env, "TF_ENABLE_ONEDNN_OPTS": "0"},
                         capture_output=True, text=True, check=True)
    assert off.stdout.split()[-2:] == ["False", "0"]


def test_int8_saturation_is_expected_on_x86_without_vnni():
    from aimodel.hardware import int8_saturates

    assert int8_saturates(ZEN3 | {"sse2"})  # AVX2 only: onnxruntime's S8S8 kernels use vpmaddubsw
    assert not int8_saturates(INTEL_VNNI | {"sse2"})
    assert not int8_saturates({"sse2", "avx2", "avx_vnni"})
    assert not int8_saturates({"fp", "asimd"})  # ARM
