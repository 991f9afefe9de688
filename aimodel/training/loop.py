"""The multi-worker training loop: Keras' own ``train_step`` and ``test_step``, driven step by step.

Keras 3 ``fit`` fails under :class:`tf.distribute.MultiWorkerMirroredStrategy`
(keras issue 20585: its symbolic build and its per-replica log reduction do
not accept the strategy's values). The step itself works: ``model.train_step``
scales the loss by the number of replicas, and ``optimizer.apply_gradients``
all-reduces the gradients across workers. So there is one description of a
training step, Keras', used by ``fit`` on one process and by this loop across
processes; what this module adds is only the driving: epochs, batches, the
run's callback, validation and the reading of metrics.

Data: every worker builds the same per-epoch order (see
:class:`aimodel.data.pipeline.EpochOrder`) and takes its slice of each global
batch, so the samples of global step k are the same as in a single-process run
and each worker reads (and, for an image folder, decodes) only its own files.
Metrics are Keras' sum-on-read variables: read here, outside the replicas, they
are summed over all workers, so every worker sees the same numbers and makes
the same decisions (NaN stop, early stopping, plateau).
"""

from __future__ import annotations

from typing import Optional

from aimodel.training.distribute import Distribution, cluster_error


def fit(model, dist: Distribution, train, val, *, batch_size: int, order, one_hot: Optional[int],
        class_weight: Optional[dict], epochs: int, initial_epoch: int, callback,
        steps_per_execution: int = 1, val_batch_size: Optional[int] = None) -> None:
    """Train ``model`` (built and compiled under ``dist.scope()``) from ``initial_epoch`` to ``epochs``.

    ``callback`` receives Keras' hooks as in ``fit``; ``model.stop_training`` ends the loop.
    ``steps_per_execution``: steps per call into TensorFlow, as in ``fit``: the metrics are read
    (summed across workers) and ``on_train_batch_end`` is called once per call.
    ``val_batch_size``: the global batch the validation split is scored in (default ``batch_size``).
    """
    import tensorflow as tf

    from aimodel.data.pipeline import make_dataset, steps_per_epoch

    shard = (dist.rank, dist.world_size)
    train_ds = _weighted(make_dataset(train, batch_size, order=order, one_hot=one_hot, shard=shard), class_weight)
    vb = val_batch_size or batch_size
    vb = max(dist.world_size, vb - vb % dist.world_size)  # split evenly over the workers
    val_ds = make_dataset(val, vb, one_hot=one_hot, shard=shard) if val is not None else None
    strategy = dist.strategy
    steps = steps_per_epoch(len(train), batch_size, dist.world_size)
    chunk = max(1, int(steps_per_execution))

    @tf.function(reduce_retracing=True)
    def train_steps(iterator, n):
        for _ in tf.range(n):
            strategy.run(model.train_step, args=(next(iterator),))
        return model.get_metrics_result()  # read across replicas: summed over every worker

    @tf.function(reduce_retracing=True)
    def test_step(batch):
        strategy.run(model.test_step, args=(batch,))

    @tf.function
    def results():
        return model.get_metrics_result()

    def numbers(logs) -> dict:
        return {k: float(v) for k, v in logs.items()}

    callback.set_model(model)
    model.stop_training = False
    try:
        callback.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            callback.on_epoch_begin(epoch)
            logs: dict = {}
            iterator, done = iter(train_ds), 0
            while done < steps:
                n = min(chunk, steps - done)
                logs = numbers(train_steps(iterator, tf.constant(n)))
                done += n
                callback.on_train_batch_end(done - 1, logs)
            if val_ds is not None:
                model.reset_metrics()
                for batch in val_ds:  # workers may take different numbers of steps: nothing is exchanged here
                    test_step(batch)
                logs.update({f"val_{k}": v for k, v in numbers(results()).items()})
            callback.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        callback.on_train_end()
    except tf.errors.OpError as exc:
        raise cluster_error(exc, dist.cluster, training=True) from None


def _weighted(ds, class_weight: Optional[dict]):
    """Add ``fit``'s ``class_weight`` as per-sample weights (what ``fit`` does with it)."""
    if not class_weight:
        return ds
    import tensorflow as tf

    table = tf.constant([class_weight.get(i, 1.0) for i in range(max(class_weight) + 1)], tf.float32)

    def add(x, y):
        index = tf.argmax(y, axis=-1) if y.shape.rank == 2 else tf.cast(y, tf.int64)
        return x, y, tf.gather(table, index)

    return ds.map(add, num_parallel_calls=tf.data.AUTOTUNE)
