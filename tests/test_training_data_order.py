"""Training order: a pure function of (seed, epoch), new every epoch, the same after a restart."""

from __future__ import annotations

import numpy as np
import pytest

from aimodel.data.base import Split

pytestmark = pytest.mark.filterwarnings("ignore:Your input ran out of data")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


def _split(n: int) -> Split:
    # The label is the sample's index, so a batch's labels show the order it was drawn in.
    return Split(x=np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1), y=np.arange(n, dtype=np.int64))


def _orders_seen_by_fit(n, batch, epochs, initial_epoch=0, steps_per_execution=4):
    from aimodel.data.pipeline import EpochOrder, make_dataset

    order = EpochOrder(n, seed=11)
    seen: list[list[int]] = []

    def record(y):
        seen.append(y.numpy().tolist())
        return y

    def tap(x, y):
        y = tf.py_function(record, [y], tf.int64)
        y.set_shape([None])
        return tf.reshape(x, [-1, 1]), tf.cast(y, tf.float32)

    ds = make_dataset(_split(n), batch, order=order).map(tap)

    class SetEpoch(keras.callbacks.Callback):  # what the runner's callback does first in every epoch
        def on_epoch_begin(self, epoch, logs=None):
            order.set_epoch(epoch)

    inp = keras.Input((1,))
    model = keras.Model(inp, keras.layers.Dense(1)(inp))
    model.compile("sgd", "mse", steps_per_execution=steps_per_execution)
    model.fit(ds, epochs=epochs, initial_epoch=initial_epoch, callbacks=[SetEpoch()], shuffle=False, verbose=0)
    steps = -(-n // batch)
    flat = [sum(seen[i * steps:(i + 1) * steps], []) for i in range(epochs - initial_epoch)]
    return flat, order, int(model.optimizer.iterations.numpy())


def test_each_epoch_sees_its_own_order_and_every_sample_once():
    n, batch = 50, 8  # 7 steps per epoch, not a multiple of steps_per_execution
    orders, order, steps = _orders_seen_by_fit(n, batch, epochs=3)
    assert steps == 3 * 7  # each epoch exactly ceil(n / batch) optimizer steps
    for epoch, seen in enumerate(orders):
        assert sorted(seen) == list(range(n))
        assert seen == order.permutation(epoch).numpy().tolist()
    assert orders[0] != orders[1] != orders[2] != orders[0]


def test_epoch_order_after_a_restart_is_the_same():
    uninterrupted, _, _ = _orders_seen_by_fit(50, 8, epochs=3)
    resumed, _, steps = _orders_seen_by_fit(50, 8, epochs=3, initial_epoch=2)  # a fresh pipeline
    assert steps == 7
    assert resumed[0] == uninterrupted[2]


def test_permutation_is_a_function_of_seed_and_epoch():
    from aimodel.data.pipeline import EpochOrder

    a, b, c = EpochOrder(100, 1), EpochOrder(100, 1), EpochOrder(100, 2)
    assert np.array_equal(a.permutation(4).numpy(), b.permutation(4).numpy())
    assert not np.array_equal(a.permutation(4).numpy(), a.permutation(5).numpy())
    assert not np.array_equal(a.permutation(4).numpy(), c.permutation(4).numpy())
    assert EpochOrder(10, 2**70).permutation(0).numpy().shape == (10,)  # any config seed works


def test_one_hot_labels_for_label_smoothing():
    from aimodel.data.pipeline import make_dataset

    x, y = next(iter(make_dataset(_split(6), 6, one_hot=6)))
    assert x.dtype == tf.float32 and y.shape == (6, 6)
    assert np.array_equal(np.argmax(y.numpy(), axis=1), np.arange(6))
