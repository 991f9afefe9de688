"""``training.precision: auto``: the compute dtype this machine trains fastest in.

Measured on the seed model (docs/speed.md): on a CPU with native bfloat16 instructions
(AVX512_BF16 or AMX-BF16), ``mixed_bfloat16`` trained 1.22× faster in every alternating run at
the same accuracy; on the quickstart's tiny 8×8 ops the casts cost 5%. So ``auto`` is a value a
config opts into (``configs/mnist_seed.yaml`` does), not the default; it resolves to
``mixed_bfloat16`` only on such a CPU with no GPU visible, else to ``float32``. On GPUs pick
``mixed_float16`` / ``mixed_bfloat16`` yourself (unmeasured here). A new run records the value it
resolved to in its ``config.yaml``, so ``--resume`` computes as the run began.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

#: /proc/cpuinfo flags of x86 CPUs that compute bfloat16 dot products in hardware.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


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


def resolve(setting: str, gpus: int, flags: Optional[Iterable[str]] = None) -> str:
    """The dtype policy ``setting`` stands for on this machine (``auto`` resolved; others unchanged)."""
    if setting != "auto":
        return setting
    flags = cpu_flags() if flags is None else set(flags)
    return "mixed_bfloat16" if gpus == 0 and any(f in flags for f in BF16_FLAGS) else "float32"


def resolved_config(cfg):
    """``cfg`` with ``training.precision: auto`` replaced by what it resolves to here."""
    if cfg.training.precision != "auto":
        return cfg
    import tensorflow as tf

    policy = resolve("auto", len(tf.config.list_physical_devices("GPU")))
    return cfg.model_copy(update={"training": cfg.training.model_copy(update={"precision": policy})})
