"""Turn a split into a tf.data pipeline."""

from __future__ import annotations

from typing import Optional

from aimodel.data.base import Split


class EpochOrder:
    """The training order of every epoch, a pure function of ``(seed, epoch)``.

    ``Dataset.shuffle(reshuffle_each_iteration=True)`` continues its random
    state only within one process: after a restart, epoch k would see epoch 1's
    order again. Here each epoch's permutation is derived statelessly from the
    seed and the epoch number, which the runner sets before every epoch
    (``set_epoch``), so epoch k sees the same order with or without a restart,
    and different epochs see different orders.
    """

    def __init__(self, size: int, seed: int):
        import tensorflow as tf

        self.size = int(size)
        # Stateless seeds are two int64s; keep the user's seed in range.
        self.seed = int(seed) % (2**63 - 1)
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_order")

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s order (0-based) the next time the dataset is iterated."""
        self._epoch.assign(int(epoch))

    def permutation(self, epoch=None):
        """Indices in the order of ``epoch`` (a tensor; default: the current epoch)."""
        import tensorflow as tf

        e = self._epoch.read_value() if epoch is None else tf.constant(int(epoch), tf.int64)
        seed = tf.stack([tf.constant(self.seed, tf.int64), e])
        return tf.random.experimental.stateless_shuffle(tf.range(self.size, dtype=tf.int64), seed=seed)


def make_dataset(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    order: Optional[EpochOrder] = None,
    one_hot: Optional[int] = None,
):
    """Batches of (float32 pixels 0..255, labels), prefetched.

    Args:
        split: the samples.
        batch_size: samples per batch; the last batch of an epoch may be
            smaller, so every epoch has ``ceil(len / batch_size)`` steps.
        order: an :class:`EpochOrder` the caller advances each epoch (the
            runner does); training order then survives a restart exactly.
        shuffle, seed: without ``order``, a seeded ``Dataset.shuffle`` that
            reshuffles each iteration (a new order per epoch within one process).
        one_hot: number of classes to one-hot encode labels into (label
            smoothing needs one-hot targets); None keeps integer labels.
    """
    import tensorflow as tf

    if order is not None:
        if order.size != len(split):
            raise ValueError(f"EpochOrder of size {order.size} for a split of {len(split)} samples")
        x, y = tf.constant(split.x), tf.constant(split.y)
        # Batching inside the per-epoch dataset keeps batches from straddling epochs.
        ds = tf.data.Dataset.range(1).flat_map(
            lambda _: tf.data.Dataset.from_tensor_slices(order.permutation())
        )
        ds = ds.batch(batch_size)
        ds = ds.map(lambda idx: (tf.gather(x, idx), tf.gather(y, idx)), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = tf.data.Dataset.from_tensor_slices((split.x, split.y))
        if shuffle:
            ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size)

    def prepare(x, y):
        x = tf.cast(x, tf.float32)
        if one_hot:
            y = tf.one_hot(y, one_hot)
        return x, y

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
