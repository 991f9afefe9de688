"""What this process may run on, for settings that size themselves to the machine."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable, Mapping, MutableMapping, Optional


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (``taskset``, a container's cpuset), else all."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no sched_getaffinity (macOS, Windows)
        return max(1, os.cpu_count() or 1)


#: /proc/cpuinfo flags of x86 CPUs that compute bfloat16 dot products in hardware.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")

#: Values of oneDNN's ``ONEDNN_MAX_CPU_ISA`` (older name ``DNNL_MAX_CPU_ISA``) that stop it below the bf16
#: instructions: with one of these set, TensorFlow's oneDNN kernels emulate bf16 even on a CPU that has them.
ISA_CAPS_WITHOUT_BF16 = frozenset({"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE",
                                   "AVX512_CORE_VNNI"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags (Linux; an empty set elsewhere or when unreadable): the first CPU's line."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        pass
    return set()


def onednn_isa_cap(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The instruction-set cap oneDNN was given (``ONEDNN_MAX_CPU_ISA``, else ``DNNL_MAX_CPU_ISA``), upper case."""
    env = os.environ if env is None else env
    value = (env.get("ONEDNN_MAX_CPU_ISA") or env.get("DNNL_MAX_CPU_ISA") or "").strip().upper()
    return value or None


def has_bf16(flags: Optional[Iterable[str]] = None, env: Optional[Mapping[str, str]] = None) -> bool:
    """Whether TensorFlow's oneDNN kernels compute bfloat16 in hardware here.

    True when the CPU has AVX512_BF16 or AMX-BF16 (``/proc/cpuinfo``) and oneDNN is not capped below them
    by ``ONEDNN_MAX_CPU_ISA`` (which makes a bf16 CPU behave as one without, e.g. ``AVX512_CORE_VNNI``).
    """
    flags = cpu_flags() if flags is None else set(flags)
    return any(f in flags for f in BF16_FLAGS) and onednn_isa_cap(env) not in ISA_CAPS_WITHOUT_BF16


#: TensorFlow's switch for its oneDNN kernels (convolutions, matmuls, pooling and their gradients JIT-compiled
#: for the CPU's vector width; TensorFlow's own kernels are built for generic x86-64, without AVX2).
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"

#: /proc/cpuinfo flags without which oneDNN's kernels are not turned on here: its fp32 kernels want AVX2 and FMA.
ONEDNN_NEEDS = frozenset({"avx2", "fma"})

#: Whether :func:`prefer_onednn` set ``TF_ENABLE_ONEDNN_OPTS`` in this process (a benchmark's peer is started
#: without it, as a user's own script would be).
onednn_set_here = False


def onednn_choice(flags: Optional[Iterable[str]] = None, env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The value aimodel gives ``TF_ENABLE_ONEDNN_OPTS`` before TensorFlow starts, or None to leave it alone.

    TensorFlow 2.21 turns its oneDNN kernels on by itself only on x86 CPUs with AVX-512 VNNI, AVX512_BF16,
    AVX-VNNI or AMX; on one with AVX2 and FMA but none of those (AMD Zen 2/3, Intel before Cascade Lake) it
    leaves them off and runs its generic kernels, about half as fast for the seed model (docs/speed.md, "A CPU
    without AVX-512"). So: "1" on any CPU with AVX2 and FMA (a no-op where TensorFlow would turn them on
    anyway); None when the environment already says (the user's ``TF_ENABLE_ONEDNN_OPTS=0`` stands) or the CPU
    lacks AVX2 (ARM, old x86, no /proc/cpuinfo).
    """
    env = os.environ if env is None else env
    if ONEDNN_ENV in env:
        return None
    flags = cpu_flags() if flags is None else set(flags)
    return "1" if ONEDNN_NEEDS <= flags else None


def prefer_onednn(env: Optional[MutableMapping[str, str]] = None, flags: Optional[Iterable[str]] = None,
                  loaded: Optional[Mapping[str, object]] = None) -> bool:
    """Set ``TF_ENABLE_ONEDNN_OPTS`` as :func:`onednn_choice` says, unless TensorFlow is already imported
    (it reads the variable once, when it loads: then this process keeps TensorFlow's own choice).

    Called when ``aimodel`` is imported, so every entry point (the CLI, ``serve``'s workers, multi-worker
    processes, library use) gets it before its first TensorFlow import. Returns whether it set the variable.
    ``loaded``: the modules already imported (default ``sys.modules``).
    """
    global onednn_set_here
    env = os.environ if env is None else env
    if "tensorflow" in (sys.modules if loaded is None else loaded):
        return False
    value = onednn_choice(flags, env)
    if value is None:
        return False
    env[ONEDNN_ENV] = value
    if env is os.environ:
        onednn_set_here = True
    return True


#: /proc/cpuinfo flags of x86 CPUs with 8-bit dot-product instructions (VNNI, AMX): onnxruntime's int8 kernels
#: accumulate exactly there; without them (AVX2, AVX-512 before Cascade Lake) they use ``vpmaddubsw``, whose
#: 16-bit sums saturate for signed int8 activations.
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def int8_saturates(flags: Optional[Iterable[str]] = None) -> bool:
    """Whether onnxruntime's signed-int8 (S8S8) kernels may saturate on this CPU: x86 without VNNI or AMX.

    onnxruntime's quantization guide advises U8U8 (or 7-bit weights) on such CPUs; ARM and VNNI CPUs keep S8S8.
    """
    flags = cpu_flags() if flags is None else set(flags)
    return "sse2" in flags and not any(f in flags for f in VNNI_FLAGS)
