"""Compare execution settings of one config: each variant trains in its own process, variants alternate.

    python benchmarks/speed_options.py configs/mnist_seed.yaml --epochs 6 --reps 5 \\
        --set dataset.path=benchmarks/out/mnist_8k.npz \\
        --variant default= --variant threads1=training.threads=1 --variant bf16=training.precision=mixed_bfloat16

A variant is ``NAME=SETTING[,SETTING...]``; a setting is a config override (``training.x=y``) or an
environment variable (``ENV:TF_ENABLE_ONEDNN_OPTS=0``). Each run trains with aimodel's own pipeline,
model and compile (no run directory, no checkpoints) and reports, over epochs 2 on:

- samples/s: training samples over the median epoch's wall time (validation included);
- samples per CPU-second: the same over the process's CPU time (all threads) in those epochs. On a
  busy machine this is the steadier figure: it barely depends on how much of the CPUs the process got.

The summary gives the median and the best run of each variant and the final validation accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The child: one variant, in-process, printing one RESULT line.
CHILD = r'''
import json, sys, time, warnings
import aimodel as api  # first, as in the CLI: it may turn TensorFlow's oneDNN kernels on before they load
import keras
from aimodel.data.pipeline import EpochOrder, make_dataset
from aimodel.training import runner
from aimodel.training.optim import uses_one_hot

config, epochs, sets = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
cfg = api.load_config(config, sets)
seconds = []

class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        order.set_epoch(epoch)
        self.t = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        seconds.append((time.perf_counter() - self.t[0], time.process_time() - self.t[1],
                        float((logs or {}).get("val_accuracy", 0.0))))

with runner._global_settings(cfg):
    p = runner._prepare(cfg)
    order = EpochOrder(len(p.bundle.train), cfg.seed)
    one_hot = p.bundle.num_classes if uses_one_hot(cfg.training) else None  # label smoothing
    train = make_dataset(p.bundle.train, cfg.training.batch_size, order=order, one_hot=one_hot)
    val = (make_dataset(p.bundle.val, cfg.training.validation_batch_size, one_hot=one_hot)
           if p.bundle.val is not None else None)
    warnings.filterwarnings("ignore")
    p.model.fit(train, validation_data=val, epochs=epochs, verbose=0, callbacks=[Timer()])
print("RESULT " + json.dumps({"samples": len(p.bundle.train), "epochs": seconds}))
'''


def run_variant(config: str, epochs: int, settings: list[str]) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    overrides = []
    for s in settings:
        if s.startswith("ENV:"):
            key, _, value = s[4:].partition("=")
            env[key] = value
        elif s:
            overrides.append(s)
    proc = subprocess.run([sys.executable, "-c", CHILD, config, str(epochs), *overrides], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"variant {settings} failed:\n{proc.stderr[-2000:]}")
    data = json.loads(line[len("RESULT "):])
    steady = data["epochs"][1:] or data["epochs"]
    wall = statistics.median(e[0] for e in steady)
    cpu = statistics.median(e[1] for e in steady)
    return {"samples_per_s": round(data["samples"] / wall, 1), "samples_per_cpu_s": round(data["samples"] / cpu, 1),
            "first_epoch_s": round(data["epochs"][0][0], 3), "val_accuracy": data["epochs"][-1][2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--variant", action="append", required=True, help="NAME=SETTING[,SETTING...]")
    parser.add_argument("--set", action="append", default=[], help="an override every variant gets")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write every run to this file")
    args = parser.parse_args()
    variants = {}
    for item in args.variant:
        name, _, settings = item.partition("=")
        variants[name] = [s for s in settings.split(",") if s]
    names = list(variants)
    runs: dict[str, list] = {n: [] for n in names}
    load_start = os.getloadavg()
    for rep in range(args.reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            r = run_variant(args.config, args.epochs, args.set + variants[name])
            runs[name].append(r)
            print(f"{name:16s} rep {rep}: {r['samples_per_s']:8,.0f} samples/s  {r['samples_per_cpu_s']:8,.0f} "
                  f"samples/CPU-s  first epoch {r['first_epoch_s']:.2f} s  val_accuracy {r['val_accuracy']:.4f}",
                  flush=True)
    print(f"load average at start {[round(x, 2) for x in load_start]}, at end "
          f"{[round(x, 2) for x in os.getloadavg()]} ({os.cpu_count()} CPUs)")
    for name, rs in runs.items():
        sps = [r["samples_per_s"] for r in rs]
        cpu = [r["samples_per_cpu_s"] for r in rs]
        print(f"{name:16s} median {statistics.median(sps):8,.0f} samples/s (best {max(sps):,.0f})  "
              f"{statistics.median(cpu):8,.0f} samples/CPU-s  "
              f"val_accuracy {statistics.median(r['val_accuracy'] for r in rs):.4f}")
    if args.json:
        args.json.write_text(json.dumps({"config": args.config, "set": args.set, "variants": variants,
                                         "runs": runs, "load_start": load_start}, indent=2))


if __name__ == "__main__":
    main()
