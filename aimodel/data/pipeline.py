"""Turn a split into a tf.data pipeline.

Every source goes through the same steps: an order of sample positions
(a stateless per-epoch permutation when training, see :class:`EpochOrder`),
batches of positions, then one parallel ``gather`` step that turns positions
into inputs. The gather step is where the kinds differ: in-memory arrays
(and image folders whose decoded pixels are cached in memory) are indexed as
tensors, text and table columns likewise, a decoded-pixel file is read row by
row, and streaming image folders decode their files in parallel (see
:func:`aimodel.data.decoding.decoded`: TensorFlow decodes plain PNGs and JPEGs
itself, off the GIL, Pillow the rest), so a folder never has to fit in memory.
"""

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


def steps_per_epoch(n: int, batch_size: int, workers: int = 1) -> int:
    """Batches in one training epoch: ``ceil(n / batch_size)``; split over several workers, a last
    batch smaller than the number of workers is left out (every worker takes part in every step)."""
    full, rest = divmod(n, batch_size)
    if workers == 1:
        return full + (1 if rest else 0)
    return full + (1 if rest >= workers else 0)


def make_dataset(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    order: Optional[EpochOrder] = None,
    one_hot: Optional[int] = None,
    shard: Optional[tuple[int, int]] = None,
):
    """Batches of (inputs, labels), prefetched.

    Inputs: images float32 0..255 (N, H, W, C); text ``tf.string`` (N,);
    tables a dict of columns (float32 numeric, ``tf.string`` categorical).

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
        # Batching inside the per-epoch dataset keeps batches from straddling epochs.
        ds = tf.data.Dataset.range(1).flat_map(
            lambda _: tf.data.Dataset.from_tensor_slices(order.permutation())
        )
    else:
        ds = tf.data.Dataset.range(len(split))
        if shuffle:
            ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    steps = steps_per_epoch(len(split), batch_size)
    if shard is not None and shard[1] > 1:
        steps = steps_per_epoch(len(split), batch_size, shard[1]) if order is not None else None
        ds, batch_size = _shard(ds, len(split), batch_size, *shard, ordered=order is not None)

    def labels(y):
        return tf.one_hot(y, one_hot) if one_hot else y

    if _decodes_files(split):
        from aimodel.data.decoding import decoded

        # Files decoded in parallel (per file or per batch, see decoding.decoded); the order is kept.
        y_all = tf.constant(split.y)
        ds = decoded(split.x, ds, batch_size).map(lambda x, i: (tf.cast(x, tf.float32), labels(tf.gather(y_all, i))))
    else:
        gather = gather_fn(split)
        ds = ds.batch(batch_size).map(lambda idx: (lambda x, y: (x, labels(y)))(*gather(idx)),
                                      num_parallel_calls=tf.data.AUTOTUNE)
        # A batch gathered from memory takes microseconds; tf.data's autotuner, left on, now and then
        # takes a core from training for a whole epoch (docs/speed.md). Off, AUTOTUNE keeps its defaults.
        options = tf.data.Options()
        options.autotune.enabled = False
        ds = ds.with_options(options)
    if order is not None and steps is not None:
        # The per-epoch order hides the length from tf.data; stated, Keras under a MirroredStrategy does
        # not take an extra (empty-batch) optimizer step at the end of each epoch.
        ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
    return ds.prefetch(tf.data.AUTOTUNE)


def _shard(ds, size: int, batch_size: int, rank: int, workers: int, ordered: bool):
    """This worker's positions and its batch size (see ``make_dataset``'s ``shard``)."""
    import tensorflow as tf

    if batch_size % workers:
        raise ValueError(f"batch size {batch_size} is not a multiple of {workers} workers")
    if not ordered:
        return tf.data.Dataset.range(rank * size // workers, (rank + 1) * size // workers), batch_size // workers

    def part(idx):
        n = tf.shape(idx, out_type=tf.int64)[0]
        return idx[rank * n // workers:(rank + 1) * n // workers]

    ds = ds.batch(batch_size).filter(lambda idx: tf.shape(idx)[0] >= workers).map(part).unbatch()
    return ds, batch_size // workers


def make_inputs(split: Split, batch_size: int = 256):
    """Batches of inputs only, in order (for ``model.predict`` on a split of any kind)."""
    import tensorflow as tf

    ds = tf.data.Dataset.range(len(split))
    if _decodes_files(split):
        from aimodel.data.decoding import decoded

        return decoded(split.x, ds, batch_size).map(lambda x, i: tf.cast(x, tf.float32)).prefetch(tf.data.AUTOTUNE)
    gather = gather_fn(split)
    ds = ds.batch(batch_size)
    return ds.map(lambda idx: gather(idx)[0], num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def element_spec(split: Split, *, one_hot: Optional[int] = None):
    """The element spec of ``make_dataset(split, ..., one_hot=one_hot)`` once its image cache is filled,
    without decoding anything: that of a one-sample stand-in of the same shapes and label type."""
    import numpy as np

    if split.streamed:
        split = Split(np.zeros((1, *split.x.sample_shape), np.uint8), split.y[:1])
    return make_dataset(split.take(np.arange(min(1, len(split)))), 1, one_hot=one_hot).element_spec


def _decodes_files(split: Split) -> bool:
    """True for a folder split that decodes its files every epoch (no cache)."""
    if not split.streamed:
        return False
    split.x.fill()  # no-op without a cache or when already filled
    return split.x.pixels is None


def gather_fn(split: Split):
    """A function: a batch of positions (int64 tensor) → (inputs, labels) for that batch."""
    import numpy as np
    import tensorflow as tf

    y = tf.constant(split.y)
    x = split.x
    if split.streamed:
        x.fill()
        source = x.pixels
        if source is None:  # no cache: decode the batch's files here (make_dataset maps per file instead)
            source = x
        if isinstance(source, np.ndarray) and not isinstance(source, np.memmap):
            x = source  # decoded once into memory; indexed like any in-memory array below
        else:
            # Read this batch's rows of the decoded-pixel file (or decode its files).
            load = source.load if source is split.x else (lambda idx: np.asarray(source[idx]))
            shape = (None,) + tuple(split.x.sample_shape)

            def gather(idx):
                images = tf.numpy_function(load, [idx], tf.uint8, stateful=False)
                images.set_shape(shape)
                return tf.cast(images, tf.float32), tf.gather(y, idx)

            return gather
    if isinstance(x, dict):
        cols = {k: _constant(v) for k, v in x.items()}
        return lambda idx: ({k: _prepare(tf.gather(v, idx)) for k, v in cols.items()}, tf.gather(y, idx))
    xs = _constant(x)
    return lambda idx: (_prepare(tf.gather(xs, idx)), tf.gather(y, idx))


def _constant(arr):
    import numpy as np
    import tensorflow as tf

    arr = np.asarray(arr)
    if arr.dtype == object or arr.dtype.kind == "U":
        return tf.constant(arr.astype(str).tolist() if arr.dtype == object else arr, dtype=tf.string)
    return tf.constant(arr)


def _prepare(t):
    import tensorflow as tf

    return t if t.dtype == tf.string else tf.cast(t, tf.float32)
