"""The seed model with its relu before or after the max pooling (same numbers; how fast?).

    python benchmarks/relu_order.py [NPZ] [--epochs 10]

Both orders are built with plain Keras layers (mixed_bfloat16, fused Adam, steps_per_execution 16,
as ``configs/mnist_seed.yaml`` trains here) and trained in one process on the same cached batches,
one epoch each, alternating; it prints the median and best samples/s and the CPU seconds per epoch.
The factory (``aimodel/models/cnn.py``) builds the second order.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("npz", nargs="?", default="benchmarks/out/mnist_8k.npz")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    import keras
    import tensorflow as tf
    from keras import layers

    from aimodel.training.optim import fuse_updates

    warnings.filterwarnings("ignore")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    with np.load(args.npz) as d:
        x, y = d["x_train"][:7200, :, :, None].astype("float32"), d["y_train"][:7200]
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32).cache().prefetch(4)

    def build(pool_first: bool):
        inputs = keras.Input((28, 28, 1))
        h = layers.Conv2D(32, 3)(layers.Rescaling(1 / 255)(inputs))
        if pool_first:
            h = layers.Activation("relu")(layers.MaxPooling2D(2)(h))
        else:
            h = layers.MaxPooling2D(2)(layers.Activation("relu")(h))
        h = layers.Dense(128, activation="relu")(layers.Flatten()(h))
        model = keras.Model(inputs, layers.Dense(10, activation="softmax", dtype="float32")(h))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      steps_per_execution=16)
        fuse_updates(model.optimizer)
        model.fit(ds, epochs=1, verbose=0)  # tracing
        return model

    models = {"relu, then pool": build(False), "pool, then relu": build(True)}
    wall: dict[str, list] = {k: [] for k in models}
    cpu: dict[str, list] = {k: [] for k in models}
    for rep in range(args.epochs):
        for name, model in (models.items() if rep % 2 == 0 else list(models.items())[::-1]):
            t, c = time.perf_counter(), time.process_time()
            model.fit(ds, epochs=1, verbose=0)
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    for name in models:
        print(f"{name:16s} median {len(x) / statistics.median(wall[name]):8,.0f} samples/s  best "
              f"{len(x) / min(wall[name]):8,.0f}  CPU s per epoch {statistics.median(cpu[name]):.3f}")


if __name__ == "__main__":
    main()
