"""The hand-written Keras peer for a small photo folder (issue 31, item 4).

``keras.utils.image_dataset_from_directory`` at 64×64 RGB, batch 32, a 10% validation split,
``cache().prefetch(AUTOTUNE)``, and the seed model (Rescaling → Conv2D 32 3×3 → MaxPool 2×2 →
Flatten → Dense 128 → Dense 10, Adam): what ``configs/mnist_seed.yaml`` trains, at the same input
size and batch as ``aimodel train configs/mnist_seed.yaml --set dataset.name=image_folder
--set dataset.image_size=[64,64]``.

    python benchmarks/peer_folder_script.py DIR [EPOCHS]

The only additions are the epoch timer and one ``bench:`` JSON line, as in peer_seed_script.py.
The first epoch includes reading and decoding every file into the cache (the script's cache fills
as it goes); ``first_batch_s`` is the time to the end of the first training batch.
"""

import json
import sys
import time

import keras
import tensorflow as tf
from keras import layers


class EpochTimer(keras.callbacks.Callback):  # benchmark instrumentation, not part of the script
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.t0)


path = sys.argv[1]
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 10

train, val = keras.utils.image_dataset_from_directory(
    path, image_size=(64, 64), batch_size=32, validation_split=0.1, subset="both", seed=42)
train = train.cache().prefetch(tf.data.AUTOTUNE)
val = val.cache().prefetch(tf.data.AUTOTUNE)

model = keras.Sequential(
    [
        keras.Input(shape=(64, 64, 3)),
        layers.Rescaling(1.0 / 255),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ]
)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

timer = EpochTimer()
history = model.fit(train, validation_data=val, epochs=epochs, callbacks=[timer], verbose=2)
train_samples = sum(int(x.shape[0]) for x, _ in train)
print("bench:", json.dumps({"epoch_seconds": timer.seconds, "train_samples": train_samples,
                            "val_accuracy": float(history.history["val_accuracy"][-1])}))
