"""Turn a split into a tf.data pipeline."""

from __future__ import annotations

from aimodel.data.base import Split


def make_dataset(split: Split, batch_size: int, *, shuffle: bool = False, seed: int = 0):
    """Batches of (float32 pixels 0..255, int labels), prefetched.

    Shuffling happens here, not in ``fit``: with a global seed, Keras' own
    shuffle of NumPy input repeats one order every epoch, while
    ``reshuffle_each_iteration`` gives a new, seeded order per epoch.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((split.x, split.y))
    if shuffle:
        ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
