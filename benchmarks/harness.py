"""Running commands for the benchmarks: wall time, peak memory, CPU pinning, machine facts."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
BIN = Path(sys.executable).parent
PYTHON = sys.executable
AIMODEL = str(BIN / "aimodel")


@dataclass
class Proc:
    """One finished command."""

    cmd: list[str]
    rc: int
    wall: float  # seconds, process start to exit
    max_rss_mb: float  # peak resident memory of the process
    output: str = field(repr=False)

    def check(self) -> "Proc":
        if self.rc != 0:
            tail = "\n".join(self.output.strip().splitlines()[-15:])
            raise RuntimeError(f"command failed (exit {self.rc}): {' '.join(self.cmd)}\n{tail}")
        return self

    def bench_line(self) -> dict:
        """The ``bench: {json}`` line a peer script prints."""
        for line in reversed(self.output.splitlines()):
            if line.startswith("bench: "):
                return json.loads(line[len("bench: "):])
        raise RuntimeError(f"no 'bench:' line in the output of {' '.join(self.cmd)}")

    def summary(self) -> dict:
        return {"wall_s": round(self.wall, 3), "max_rss_mb": round(self.max_rss_mb, 1)}


def start_environ() -> dict:
    """The environment ``make bench`` was started with: what a user's shell gives both sides.

    Importing ``aimodel`` (this process does, for machine facts) may set ``TF_ENABLE_ONEDNN_OPTS``
    (:func:`aimodel.hardware.prefer_onednn`); that is aimodel's own doing, so it is taken out here: each
    aimodel process sets it again itself, and a peer script runs with TensorFlow's default, as it would for a user.
    """
    from aimodel import hardware

    env = dict(os.environ)
    if hardware.onednn_set_here:
        env.pop(hardware.ONEDNN_ENV, None)
    return env


class Runner:
    """Runs commands pinned to the same CPUs, with the same environment, one at a time."""

    def __init__(self, cores: int):
        available = sorted(os.sched_getaffinity(0))
        self.cpus = available[:cores] if cores > 0 else available
        self.env = start_environ()
        # Both sides get the same environment: no TF start-up log lines, no GPU.
        self.env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1")
        self.log = OUT / "logs"
        shutil.rmtree(self.log, ignore_errors=True)
        self.log.mkdir(parents=True)
        self.count = 0

    def run(self, cmd: list[str], name: str, extra_env: dict | None = None) -> Proc:
        self.count += 1
        log = self.log / f"{self.count:03d}-{name}.log"
        cpus = self.cpus
        env = {**self.env, **(extra_env or {})}
        with open(log, "w+", encoding="utf-8") as f:
            start = time.perf_counter()
            p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                 preexec_fn=lambda: os.sched_setaffinity(0, cpus))
            _, status, usage = os.wait4(p.pid, 0)
            wall = time.perf_counter() - start
            p.returncode = os.waitstatus_to_exitcode(status)
            f.seek(0)
            output = f.read()
        return Proc(cmd, p.returncode, wall, usage.ru_maxrss / 1024, output)


def alternate(reps: int, sides: dict, runner_fn) -> dict[str, list]:
    """Run every side once per repetition, swapping the order each time (ABBA) so drift in
    machine load falls on both; returns ``{side: [result per repetition]}``."""
    names = list(sides)
    results: dict[str, list] = {n: [] for n in names}
    for rep in range(reps):
        for n in names if rep % 2 == 0 else names[::-1]:
            results[n].append(runner_fn(n, sides[n], rep))
    return results


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(statistics.median(values)) if values else None


def machine(cpus: list[int]) -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu_model": model,
        "cores_online": os.cpu_count(),
        "cores_used": len(cpus),
        "pinned_cpus": cpus,
        "memory_gb": _memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        **_instruction_sets(),
        "physical_cores_used": _physical_cores(cpus),
        "python": platform.python_version(),
    }
    env = {**start_environ(), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(
        [PYTHON, "-c", "import aimodel, tensorflow as tf, keras; print(tf.__version__, keras.__version__, aimodel.__version__)"],
        capture_output=True, text=True, env=env,
    )
    if out.returncode == 0 and out.stdout.split():
        info["tensorflow"], info["keras"], info["aimodel"] = out.stdout.split()[-3:]
    info["onednn"] = {side: _onednn_on(env, first) for side, first in (("aimodel", "import aimodel; "), ("peer", ""))}
    return info


def _onednn_on(env: dict, first: str) -> bool | None:
    """Whether TensorFlow's oneDNN kernels are on in a process that runs ``first`` before importing it."""
    out = subprocess.run([PYTHON, "-c", first + "from tensorflow.python.util import _pywrap_util_port as p; "
                          "print(p.IsMklEnabled())"], capture_output=True, text=True, env=env)
    words = out.stdout.split()
    return words[-1] == "True" if out.returncode == 0 and words else None


def _instruction_sets() -> dict:
    """The vector instruction sets that decide the compute path (figure 1), and oneDNN's cap if one is set."""
    from aimodel.hardware import cpu_flags, has_bf16, onednn_isa_cap

    flags = cpu_flags()
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
    return {"instruction_sets": [f for f in wanted if f in flags], "onednn_max_cpu_isa": onednn_isa_cap(),
            "bf16": has_bf16(flags)}


def _physical_cores(cpus: list[int]) -> int | None:
    """How many physical cores the pinned CPUs are (two hyperthreads of one core count once)."""
    try:
        return len({Path(f"/sys/devices/system/cpu/cpu{c}/topology/thread_siblings_list").read_text().strip()
                    for c in cpus})
    except OSError:
        return None


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None

