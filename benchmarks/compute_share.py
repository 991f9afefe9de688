"""Figure 1c: each shipped image config's training throughput as a share of this CPU's compute limit.

The FLOPs are counted, not worked out by hand: each config's model is built by aimodel's own factory
(:func:`aimodel.models.factory.build_model`, from a placeholder bundle of the config's input shape, as
``aimodel model summary`` does), its forward pass for one sample is traced into a graph
(``tf.function(...).get_concrete_function``), and TensorFlow's profiler counts that graph's floating-point
operations (``tf.compat.v1.profiler.profile`` with ``ProfileOptionBuilder.float_operation()``). Two things
the profiler does not see are put in view first: a recurrent layer's ``While`` loop (the model is cloned with
``unroll=True``, the same arithmetic step by step) and ``Einsum`` ops (the attention projections), which
the profiler has no count for and which are counted here from the traced shapes (2 × the product of all
index sizes: one multiply and one add per term).

A training step is taken as 3 × the forward pass (the backward pass computes the gradients with respect
to the activations and to the weights, each about one forward pass), the usual estimate; the optimizer
update (a few operations per weight, per batch) is left out.

The compute limit is measured, not taken from a data sheet: ``--matmul`` times a 2048² fp32 matmul in
TensorFlow for about 3 s and keeps its fastest 0.5 s window (:func:`matmul_rate`), the fastest fp32 matmul
these cores ran in this bench run. The limit of a config is that rate over its training FLOPs per sample
(``matmul FLOP/s / (3 × forward FLOPs)`` samples/s), and its share is the measured samples/s
(``aimodel train``'s summary.json, epochs 2 on, validation and checkpoints included) over that limit
(:func:`benchmarks.figure_base.share`). Figure 1 divides the seed model's samples/s by the same
measurement (:func:`benchmarks.figure_base.compute_limit` runs this module once per bench run).

    PYTHONPATH=. python -m benchmarks.compute_share [--matmul] [--json FILE]   # the FLOP counts (and the rate)

In ``make bench`` this is group ``compute_share`` (figure 1c, informational: no target).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from benchmarks.figure_base import Context, Figure, compute_limit, limit_samples_per_s, run_figures, share
from benchmarks.harness import OUT, median

ROOT = Path(__file__).resolve().parents[1]
#: training FLOPs per sample ≈ this × forward FLOPs (forward, gradients of the activations, of the weights)
TRAIN_FACTOR = 3
#: the seed model's training FLOPs per sample as worked out by hand (issue 16), beside the counted ones
SEED_HAND_FLOPS = 5.3e6
#: the image configs shipped in configs/ (every other config there reads text, tables or series)
CONFIGS = ("mnist_seed", "mnist_cnn", "fashion_mnist_cnn", "cifar10_cnn", "image_folder", "mnist_rnn", "mnist_vit")
#: configs without a fixed input shape: the one the figure trains them on (a synthetic folder)
FOLDER_SHAPE = (32, 32, 3)
FOLDER_CLASSES = 10


def count_forward_flops(model, shape: tuple[int, ...], dtype: str = "float32") -> dict:
    """Floating-point operations of ``model`` on one sample of ``shape`` (inference graph, batch 1).

    Returns ``{"forward_flops": total, "profiler_flops": ..., "einsum_flops": ...}``: what TensorFlow's
    profiler counts in the traced graph, plus the ``Einsum`` ops it has no count for. Recurrent layers
    are unrolled first (:func:`unrolled`), so a ``While`` loop does not hide their steps.
    """
    import tensorflow as tf

    model = unrolled(model)
    forward = tf.function(lambda x: model(x, training=False))
    graph = forward.get_concrete_function(tf.TensorSpec((1, *shape), dtype)).graph
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    profiled = int(tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops)
    einsum = sum(_einsum_flops(op) for op in graph.get_operations() if op.type == "Einsum")
    loops = [op.name for op in graph.get_operations() if op.type in ("While", "StatelessWhile")]
    if loops:
        raise ValueError(f"the traced graph still has loops the profiler cannot count: {loops}")
    return {"forward_flops": profiled + einsum, "profiler_flops": profiled, "einsum_flops": einsum}


def _einsum_flops(op) -> int:
    """2 × the product of the sizes of every index in the equation (each term: one multiply, one add)."""
    equation = op.get_attr("equation").decode()
    inputs, _ = equation.replace(" ", "").split("->")
    sizes: dict[str, int] = {}
    for letters, tensor in zip(inputs.split(","), op.inputs):
        if "." in letters:
            raise ValueError(f"{op.name}: ellipsis in einsum equation {equation!r} is not counted")
        sizes.update(zip(letters, (int(d) for d in tensor.shape)))
    total = 2
    for size in sizes.values():
        total *= size
    return total


def unrolled(model):
    """``model``, or a clone of it whose recurrent layers are unrolled (same arithmetic, no loop)."""
    import keras

    if not any(isinstance(layer, keras.layers.RNN) for layer in _all_layers(model)):
        return model

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.RNN):
            config["unroll"] = True
        return layer.__class__.from_config(config)

    return keras.models.clone_model(model, clone_function=clone)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)
        inner = getattr(layer, "layer", None)  # Bidirectional, TimeDistributed
        if inner is not None:
            yield inner


def config_flops(name: str) -> dict:
    """Build ``configs/<name>.yaml``'s model with aimodel's factory and count it (see the module docstring)."""
    from aimodel.config import load_config
    from aimodel.data.spec import InputSpec
    from aimodel.models.factory import build_model
    from aimodel.models.summary import describe_input, placeholder_bundle

    cfg = load_config(ROOT / "configs" / f"{name}.yaml")
    if cfg.dataset.name == "image_folder":  # the shape comes from the folder: the one the figure trains on
        spec = InputSpec(kind="image", shape=FOLDER_SHAPE, class_names=[str(i) for i in range(FOLDER_CLASSES)])
        bundle = placeholder_bundle(spec)
    else:
        bundle, _ = describe_input(cfg)
    model = build_model(cfg, bundle)
    counted = count_forward_flops(model, tuple(bundle.spec.shape), model.inputs[0].dtype)
    train = TRAIN_FACTOR * counted["forward_flops"]
    return {**counted, "input_shape": list(bundle.spec.shape), "params": int(model.count_params()),
            "train_flops": train}


# --- the figure: each config trained briefly by `aimodel train` on data of its input shape -------------

#: config -> (data it trains on, training samples, epochs); samples/s is summary.json's (epochs 2 on)
RUNS = {
    "mnist_seed": ("mnist", 8000, 4),
    "mnist_cnn": ("mnist", 2000, 3),
    "fashion_mnist_cnn": ("mnist", 2000, 3),
    "cifar10_cnn": ("rgb32", 2000, 3),
    "image_folder": ("folder", 1200, 3),
    "mnist_rnn": ("mnist", 8000, 3),
    "mnist_vit": ("mnist", 8000, 3),
}


def _npz(ctx: Context, kind: str, n: int) -> Path:
    """``n`` training images of the benchmark MNIST npz (synthetic 28×28 if it is not MNIST), or synthetic
    32×32 RGB ones; a quarter as many test images. Labels 0..9."""
    import numpy as np

    path = OUT / f"share_{kind}_{n}.npz"
    if path.is_file():
        return path
    with np.load(ctx.npz) as d:
        x, y, xt, yt = (d[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    if kind != "mnist" or x.shape[1:] != (28, 28):
        shape = (28, 28) if kind == "mnist" else (32, 32, 3)
        rng = np.random.default_rng(0)
        x, xt = (rng.integers(0, 256, (m, *shape), dtype=np.uint8) for m in (n, n // 4))
        y, yt = (np.arange(m, dtype=np.uint8) % FOLDER_CLASSES for m in (n, n // 4))
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x_train=x[:n], y_train=y[:n], x_test=xt[:n // 4], y_test=yt[:n // 4])
    os.replace(tmp, path)
    return path


def _folder(n: int) -> Path:
    """``n`` synthetic PNGs of :data:`FOLDER_SHAPE` in :data:`FOLDER_CLASSES` class folders."""
    import numpy as np
    from PIL import Image

    root = OUT / f"share_folder_{n}"
    done = root / ".complete"
    if not done.is_file():
        rng = np.random.default_rng(0)
        for i in range(n):
            label = root / str(i % FOLDER_CLASSES)
            label.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, FOLDER_SHAPE, dtype=np.uint8)).save(label / f"{i:05d}.png")
        done.touch()
    return root


def _data_args(ctx: Context, name: str) -> list[str]:
    kind, n, _ = RUNS[name]
    if kind == "folder":
        return ["--set", f"dataset.path={_folder(n)}"]
    source = "mnist" if name.startswith("mnist") else "npz"  # fashion and CIFAR read the same layout as an npz
    return ["--set", f"dataset.name={source}", "--set", f"dataset.path={_npz(ctx, kind, n)}"]


def _train(ctx: Context, name: str, rep: int) -> dict:

    run = ctx.run_dir(f"share-{name}-{rep}")
    p = ctx.aimodel("train", f"configs/{name}.yaml", *_data_args(ctx, name),
                    "--set", f"training.epochs={RUNS[name][2]}", "--run-dir", str(run), name=f"share-{name}-{rep}")
    import yaml

    precision = yaml.safe_load((run / "config.yaml").read_text())["training"]["precision"]  # auto, resolved
    return {**p.summary(), **run_figures(run, p), "precision": precision}


def figure(ctx: Context) -> list[Figure]:
    """Figure 1c: one row, the median share over the configs; the per-config table in its details."""
    measured = compute_limit(ctx)
    counts, matmul = measured["configs"], measured["matmul_flops_per_s"]
    per_config, rows = {}, []
    for name in CONFIGS:
        runs = [_train(ctx, name, rep) for rep in range(min(max(ctx.reps, 1), 2))]
        per_config[name] = _config_result(counts[name], median(r["samples_per_s"] for r in runs), matmul, runs)
        rows.append(_row(name, per_config[name]))
    seed = counts["mnist_seed"]["train_flops"]
    shares = [v["share"] for v in per_config.values() if v["share"] is not None]
    gflops = round(matmul / 1e9, 1) if matmul else None
    columns = ["config", "input", "forward MFLOP", f"training MFLOP ({TRAIN_FACTOR}×)",
               f"limit samples/s (at {gflops or 0:.0f} GFLOP/s)", "samples/s", "share", "precision",
               "trained on (epochs)"]
    return [Figure("1c", f"Training throughput as a share of the compute limit (measured fp32 matmul rate): median "
                         f"of {len(CONFIGS)} shipped image configs (table below)", "report (no target set)",
                   median(shares), None, "share", status="measured",
                   details={"runs": per_config, "spread": [min(shares), max(shares)] if shares else None,
                            "matmul_gflops": gflops,
                            "seed_train_mflop": {"measured": round(seed / 1e6, 2),
                                                 "by_hand": SEED_HAND_FLOPS / 1e6,
                                                 "difference": f"{seed / SEED_HAND_FLOPS - 1:+.1%}"},
                            "table": {"columns": columns, "rows": rows}},
                   note=_NOTE.format(matmul=gflops or 0, factor=TRAIN_FACTOR, seed=seed / 1e6,
                                     hand=SEED_HAND_FLOPS / 1e6, diff=seed / SEED_HAND_FLOPS - 1))]


def _config_result(counts: dict, sps, matmul, runs: list[dict]) -> dict:
    """One config's counts, samples/s, limit and share (of the measured matmul rate), and its runs."""
    return {**counts, "limit_samples_per_s": limit_samples_per_s(counts["train_flops"], matmul),
            "samples_per_s": sps, "share": share(sps, counts["train_flops"], matmul), "precision": runs[0]["precision"],
            "runs": runs}


def _row(name: str, r: dict) -> list[str]:
    """The table row of one config (:func:`_config_result`)."""
    def fmt(value, spec):
        return "—" if value is None else format(value, spec)

    return [f"configs/{name}.yaml", "×".join(map(str, r["input_shape"])), f"{r['forward_flops'] / 1e6:.2f}",
            f"{r['train_flops'] / 1e6:.1f}", fmt(r["limit_samples_per_s"], ",.0f"), fmt(r["samples_per_s"] or None, ",.0f"),
            fmt(r["share"], ".1%"), r["precision"], _trained_on(name)]


def _trained_on(name: str) -> str:
    kind, n, epochs = RUNS[name]
    what = {"mnist": "MNIST", "rgb32": "synthetic 32×32 RGB npz", "folder": "synthetic 32×32 RGB PNG folder"}[kind]
    return f"{n:,} {what} ({epochs})"


_NOTE = ("Share = samples/s ÷ limit, limit = {matmul:.0f} GFLOP/s ÷ training FLOPs per sample: {matmul:.0f} "
         "GFLOP/s is the fastest fp32 matmul these cores ran in this bench run (2048², best 0.5 s window of 3 s, "
         "pinned like the training runs; docs/speed.md). Forward FLOPs counted by TensorFlow's profiler on each "
         "config's model as aimodel's factory builds it (inference graph, one sample; recurrent layers unrolled, "
         "attention einsums counted from their shapes); training taken as {factor}× forward, the optimizer left out "
         "(benchmarks/compute_share.py). The seed model counts {seed:.2f} MFLOP per training sample against "
         "{hand:.1f} by hand ({diff:+.1%}: the profiler also counts bias adds, the pixel rescaling, pooling and "
         "softmax). samples/s from each run's summary.json (epochs 2 on, validation and checkpoints included; short "
         "runs on small data, so start-up of tf.data and validation weigh more than in a full run). A config with "
         "precision: auto trains in mixed_bfloat16 on a CPU with bf16 instructions (the precision column) and is "
         "still measured against the fp32 limit: bf16 dot-product instructions do more multiply-adds per cycle than "
         "fp32 FMAs, so a share above 100% is possible for such a config and says so, not that the count is wrong.")


def matmul_rate(n: int = 2048, seconds: float = 3.0) -> float:
    """The fastest fp32 FLOP/s of an ``n``×``n`` matmul over ``seconds`` (0.5 s windows): what this CPU
    delivers on its most favourable operation, the compute limit of figures 1 and 1c."""
    import time

    import tensorflow as tf

    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    matmul = tf.function(tf.linalg.matmul)
    matmul(a, b).numpy()
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        start, count = time.perf_counter(), 0
        while time.perf_counter() - start < 0.5:
            matmul(a, b).numpy()
            count += 1
        best = max(best, 2 * n**3 * count / (time.perf_counter() - start))
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compute_share", description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names in configs/")
    parser.add_argument("--matmul", action="store_true", help="also measure the fp32 FLOP/s of a 2048² matmul (the limit)")
    parser.add_argument("--json", type=Path, help='write {"configs": {config: counts}, "matmul_flops_per_s": ...}')
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    counts = {name: config_flops(name) for name in args.configs.split(",") if name}
    rate = round(matmul_rate()) if args.matmul else None
    for name, c in counts.items():
        limit = limit_samples_per_s(c["train_flops"], rate)
        print(f"{name:18s} forward {c['forward_flops'] / 1e6:9.2f} MFLOP  training {c['train_flops'] / 1e6:9.2f} MFLOP"
              + (f"  limit {limit:10,.0f} samples/s" if limit else ""))
    if rate:
        print(f"2048² matmul: {rate / 1e9:.0f} GFLOP/s fp32 (the compute limit)")
    if args.json:
        args.json.write_text(json.dumps({"configs": counts, "matmul_flops_per_s": rate}, indent=2) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
