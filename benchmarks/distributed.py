"""Figure 11: the seed model trained by 2 worker processes on this machine (multi_worker) versus 1.

``python benchmarks/distributed.py NPZ EPOCHS RUN_DIR`` starts two ``aimodel train --workers ... --rank r``
processes on 127.0.0.1 (free ports), waits for both and prints a ``bench: {json}`` line with the
chief's run figures. Both workers share the CPUs the benchmark runner pinned (2 cores here), so this
measures the cost of the all-reduce and of running two processes, not a speed-up.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AIMODEL = str(Path(sys.executable).with_name("aimodel"))


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def main(npz: str, epochs: str, run_dir: str, workers: int = 2) -> int:
    addresses = ",".join(f"127.0.0.1:{p}" for p in free_ports(workers))
    cmd = [AIMODEL, "train", "configs/mnist_seed.yaml", "--set", f"dataset.path={npz}",
           "--set", f"training.epochs={epochs}", "--run-dir", run_dir, "-q", "--workers", addresses]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd + ["--rank", str(r)], cwd=ROOT, env=os.environ, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for r in range(workers)]
    outputs = [p.communicate(timeout=3600)[0] for p in procs]
    wall = time.perf_counter() - t0
    for p, out in zip(procs, outputs):
        if p.returncode:
            print(out)
            return p.returncode
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    print("bench: " + json.dumps({"samples_per_s": summary["samples_per_second"], "wall_s": round(wall, 2),
                                  "world_size": summary["world_size"], "global_batch": summary["global_batch"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
