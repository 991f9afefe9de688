"""``training.precision: auto``: the compute dtype this machine trains fastest in.

Measured on the seed model (docs/speed.md): on a CPU with native bfloat16 instructions
(AVX512_BF16 or AMX-BF16, and oneDNN not capped below them by ``ONEDNN_MAX_CPU_ISA``), ``mixed_bfloat16`` trained 1.22× faster in every alternating run at
the same accuracy; on the quickstart's tiny 8×8 ops the casts cost 5%. So ``auto`` is a value a
config opts into (``configs/mnist_seed.yaml`` does), not the default; it resolves to
``mixed_bfloat16`` only on such a CPU with no GPU visible, else to ``float32``. On GPUs pick
``mixed_float16`` / ``mixed_bfloat16`` yourself (unmeasured here). A new run records the value it
resolved to in its ``config.yaml``, so ``--resume`` computes as the run began.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional

from aimodel.hardware import BF16_FLAGS, cpu_flags, has_bf16  # noqa: F401  (cpu_flags, BF16_FLAGS: re-exported)


def resolve(setting: str, gpus: int, flags: Optional[Iterable[str]] = None,
            env: Optional[Mapping[str, str]] = None) -> str:
    """The dtype policy ``setting`` stands for on this machine (``auto`` resolved; others unchanged).

    ``flags``/``env``: the CPU's flags and the environment (default: ``/proc/cpuinfo`` and ``os.environ``);
    ``ONEDNN_MAX_CPU_ISA`` capped below bf16 counts as a CPU without it (:func:`aimodel.hardware.has_bf16`).
    """
    if setting != "auto":
        return setting
    return "mixed_bfloat16" if gpus == 0 and has_bf16(flags, env) else "float32"


def resolved_config(cfg):
    """``cfg`` with ``training.precision: auto`` replaced by what it resolves to here."""
    if cfg.training.precision != "auto":
        return cfg
    import tensorflow as tf

    policy = resolve("auto", len(tf.config.list_physical_devices("GPU")))
    return cfg.model_copy(update={"training": cfg.training.model_copy(update={"precision": policy})})
