"""The classic hand-written Keras MNIST example: the peer that aimodel is measured against.

Conv2D 32 3×3 → MaxPool 2×2 → Flatten → Dense 128 → Dense 10, Adam, batch 32,
``model.fit`` on NumPy arrays; ``configs/mnist_seed.yaml`` describes the same model.
It reads the benchmark npz (same layout as Keras' mnist.npz) instead of downloading.

    python benchmarks/peer_seed_script.py benchmarks/out/mnist_8k.npz [EPOCHS]

The only addition to the classic script is ``EpochTimer``: it times each epoch the way
aimodel's runner does (epoch begin to epoch end, validation included) and prints one
``bench:`` JSON line at the end for the harness. It does no work inside an epoch.
"""

import json
import sys
import time

import keras
import numpy as np
from keras import layers


class EpochTimer(keras.callbacks.Callback):  # benchmark instrumentation, not part of the example
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.t0)


path = sys.argv[1]
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 10

with np.load(path) as data:
    x_train, y_train = data["x_train"], data["y_train"]
    x_test, y_test = data["x_test"], data["y_test"]

# Scale images to the [0, 1] range and add the channel axis.
x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
x_test = np.expand_dims(x_test.astype("float32") / 255, -1)

model = keras.Sequential(
    [
        keras.Input(shape=x_train.shape[1:]),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ]
)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

timer = EpochTimer()
model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_split=0.1, callbacks=[timer])

score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
print("bench:", json.dumps({"epoch_seconds": timer.seconds, "train_samples": int(len(x_train) * 0.9),
                            "test_accuracy": float(score[1])}))
