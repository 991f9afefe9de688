"""CPU feature detection: bf16 instructions from /proc/cpuinfo flags, capped by oneDNN's ONEDNN_MAX_CPU_ISA."""

from __future__ import annotations

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
