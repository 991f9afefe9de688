"""What this process may run on, for settings that size themselves to the machine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Optional


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
    """The CPU's feature flags (Linux; an empty set elsewhere or when unreadable)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
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
