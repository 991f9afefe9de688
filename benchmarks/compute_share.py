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
update (a few operations per weight, per batch) is left out. The compute limit of a config is then
``PEAK_FLOPS / (3 × forward FLOPs)`` samples/s, and its share is the measured samples/s
(``aimodel train``'s summary.json, epochs 2 on, validation and checkpoints included) over that.

    PYTHONPATH=. python -m benchmarks.compute_share --json /tmp/flops.json   # the FLOP counts alone

In ``make bench`` this is group ``compute_share`` (figure 1c, informational: no target).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from benchmarks.figure_base import PEAK_FLOPS

ROOT = Path(__file__).resolve().parents[1]
#: training FLOPs per sample ≈ this × forward FLOPs (forward, gradients of the activations, of the weights)
TRAIN_FACTOR = 3
#: the seed model's training FLOPs per sample as counted by hand (docs/speed.md, "The compute path")
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
            "train_flops": train, "limit_samples_per_s": round(PEAK_FLOPS / train, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compute_share", description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names in configs/")
    parser.add_argument("--json", type=Path, help="write {config: counts} here")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    counts = {name: config_flops(name) for name in args.configs.split(",") if name}
    for name, c in counts.items():
        print(f"{name:18s} forward {c['forward_flops'] / 1e6:9.2f} MFLOP  training {c['train_flops'] / 1e6:9.2f} "
              f"MFLOP  limit {c['limit_samples_per_s']:10,.0f} samples/s")
    if args.json:
        args.json.write_text(json.dumps(counts, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
