"""The training speed-ups keep their promises: background checkpoints hold the epoch's exact state, the fused
Adam update is Keras' update."""

from __future__ import annotations

import json
import logging
import threading

import numpy as np
import pytest

from aimodel.training import checkpointing as ckpt
from aimodel.training.checkpoint_writer import CheckpointWriter, Snapshot


def _model():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(keras.layers.Dense(5)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def _step(model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    model.train_on_batch(rng.normal(size=(8, 4)).astype("float32"), rng.integers(0, 3, 8))


def _state(epoch: int) -> ckpt.RunState:
    return ckpt.RunState(epoch=epoch, global_step=epoch, steps_per_epoch=1, checkpoint=ckpt.checkpoint_name(epoch),
                         monitor="loss", mode="min")


def _file_values(path) -> list:
    import keras

    loaded = keras.saving.load_model(path, safe_mode=True)
    return [v.numpy() for v in list(loaded.weights) + list(loaded.optimizer.variables)]


def test_background_checkpoint_holds_the_snapshot_not_the_later_weights(tmp_path):
    model = _model()
    committed = []
    writer = CheckpointWriter(tmp_path, committed.append)
    _step(model, 1)
    writer.save(model, Snapshot.take(model), _state(1), {"epoch": 1})  # the first epoch: saved right here
    assert writer._thread is not None  # ... and the writer thread starts, loading its shadow model
    _step(model, 2)
    snapshot = Snapshot.take(model)
    writer.save(model, snapshot, _state(2), {"epoch": 2})  # handed to the writer thread
    for seed in range(3, 6):  # training goes on while it writes
        _step(model, seed)
    writer.close()
    assert [s.epoch for s in committed] == [1, 2]
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 2
    saved = _file_values(tmp_path / "checkpoints" / "epoch-0002.keras")
    assert len(saved) == len(snapshot.values)
    assert all(np.array_equal(a, b) for a, b in zip(saved, snapshot.values))
    live = [v.numpy() for v in list(model.weights) + list(model.optimizer.variables)]
    assert not np.array_equal(saved[0], live[0])  # the file is the epoch's state, not the model's now
    assert (tmp_path / "last.keras").samefile(tmp_path / "checkpoints" / "epoch-0002.keras")
    assert (tmp_path / "metrics.csv").read_text().split() == ["epoch", "1", "2"]


def test_the_shadow_loads_only_after_the_first_training_call(tmp_path):
    model = _model()
    committed = []
    writer = CheckpointWriter(tmp_path, committed.append)
    writer.start(model)  # before the first epoch: the shadow is saved, not loaded yet
    assert writer._thread is None and writer._deferred is not None
    folder = writer._deferred[2]
    writer.begin()  # after the first training call (the graph is traced): the writer thread loads it
    assert writer._thread is not None and writer._deferred is None
    _step(model, 1)
    writer.save(model, Snapshot.take(model), _state(1), {"epoch": 1})
    writer.close()
    assert [s.epoch for s in committed] == [1] and writer._shadow is not None  # written in the background
    assert not folder.exists()
    unused = CheckpointWriter(tmp_path / "b", committed.append)
    unused.start(model)
    folder = unused._deferred[2]
    unused.close()  # training ended before its first call: the saved shadow is removed
    assert not folder.exists() and unused._thread is None


def test_without_a_matching_shadow_checkpoints_are_saved_on_the_training_thread(tmp_path, monkeypatch, caplog):
    def refuse(self, path):
        raise RuntimeError("no shadow today")

    monkeypatch.setattr(CheckpointWriter, "_load_shadow", refuse)
    model = _model()
    threads = []
    writer = CheckpointWriter(tmp_path, lambda state: threads.append(threading.current_thread()))
    with caplog.at_level(logging.WARNING, logger="aimodel.training.checkpoint_writer"):
        for epoch in (1, 2, 3):
            _step(model, epoch)
            writer.save(model, Snapshot.take(model), _state(epoch), {"epoch": epoch})
        writer.close()
    assert "written on the training thread (RuntimeError: no shadow today)" in caplog.text
    assert threads == [threading.main_thread()] * 3
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 3
    live = [v.numpy() for v in list(model.weights) + list(model.optimizer.variables)]
    assert all(np.array_equal(a, b) for a, b in zip(_file_values(tmp_path / "last.keras"), live))


def test_a_failed_background_write_is_raised_on_the_training_thread(tmp_path, monkeypatch):
    model = _model()
    writer = CheckpointWriter(tmp_path, lambda state: None)
    _step(model, 1)
    writer.save(model, Snapshot.take(model), _state(1), {"epoch": 1})

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt, "atomic_save_model", disk_full)
    writer.save(model, Snapshot.take(model), _state(2), {"epoch": 2})
    with pytest.raises(OSError, match="No space left"):
        writer.close()
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 1  # the last good commit stands


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_fused_adam_is_keras_adam(tmp_path, name):
    import keras
    import tensorflow as tf

    from aimodel.training.optim import fuse_updates

    rng = np.random.default_rng(0)
    start = [rng.normal(size=(5, 3)).astype("float32"), rng.normal(size=(3,)).astype("float32")]
    grads = [[rng.normal(size=v.shape).astype("float32") for v in start] for _ in range(5)]
    results = []
    for fused in (False, True):
        variables = [keras.Variable(v) for v in start]
        opt = getattr(keras.optimizers, name)(learning_rate=0.01, weight_decay=0.01 if name == "AdamW" else None)
        opt.build(variables)
        if fused:
            assert fuse_updates(opt)
        apply = tf.function(lambda g: opt.apply_gradients(zip(g, variables)))  # noqa: B023 (called in this loop only)
        for g in grads:
            apply([tf.constant(x) for x in g])
        results.append([v.numpy() for v in variables] + [v.numpy() for v in opt.variables])
    for keras_value, fused_value in zip(*results):
        np.testing.assert_allclose(fused_value, keras_value, rtol=1e-5, atol=1e-6)
    # Still an ordinary Keras optimizer when saved.
    assert keras.saving.serialize_keras_object(opt)["class_name"] == name
    assert fuse_updates(keras.optimizers.SGD()) is False  # others keep Keras' own update


def test_threads_cannot_change_once_tensorflow_runs_and_the_log_says_so(caplog):
    import tensorflow as tf

    from aimodel.training.runner import _set_threads

    tf.constant(1.0) + 1.0  # TensorFlow has started in this process
    wanted = tf.config.threading.get_intra_op_parallelism_threads() + 3
    with caplog.at_level(logging.WARNING, logger="aimodel.training.runner"):
        _set_threads(wanted)
    assert f"training.threads={wanted} not applied" in caplog.text


@pytest.mark.subprocess
def test_threads_parallel_ops_is_one_thread_per_op_on_every_core_and_computes_as_threads_1(tmp_path):
    """``training.threads: parallel_ops`` gives each operation one thread and runs as many side by side as the
    process has cores; the weights it trains are bit for bit those of ``threads: 1``."""
    import subprocess
    import sys

    import keras

    import aimodel as api
    from tests.conftest import ROOT, TINY, write_config

    assert api.load_config(write_config(tmp_path / "a.yaml", TINY), ["training.threads=parallel_ops"]).training.threads == "parallel_ops"
    for bad in ("0", "two", "auto"):
        with pytest.raises(Exception, match="training.threads"):
            api.load_config(write_config(tmp_path / "b.yaml", TINY), [f"training.threads={bad}"])

    def start(threads: str) -> subprocess.Popen:
        # One epoch: 41 steps are plenty to tell two thread settings' arithmetic apart.
        training = {**TINY["training"], "threads": threads, "epochs": 1}
        config = write_config(tmp_path / f"{threads}.yaml", {**TINY, "training": training})
        code = ("import sys, os, tensorflow as tf\n"
                "from aimodel.cli import main\n"
                "try:\n    main(['train', sys.argv[1], '--run-dir', sys.argv[2], '--quiet'])\n"
                "except SystemExit as e:\n    assert not e.code, e.code\n"
                "t = tf.config.threading\n"
                "print('POOLS', t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads(),"
                " len(os.sched_getaffinity(0)))\n")
        return subprocess.Popen([sys.executable, "-c", code, str(config), str(tmp_path / threads)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)

    def weights(threads: str, proc: subprocess.Popen) -> list:
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr[-2000:]
        intra, inter, cores = map(int, stdout.split("POOLS")[1].split())
        assert (intra, inter) == ((1, cores) if threads == "parallel_ops" else (int(threads), int(threads)))
        return keras.saving.load_model(tmp_path / threads / "last.keras").get_weights()

    procs = {threads: start(threads) for threads in ("parallel_ops", "1")}  # side by side: each starts TensorFlow
    try:
        trained = {threads: weights(threads, proc) for threads, proc in procs.items()}
    finally:
        for proc in procs.values():
            proc.kill()
    for a, b in zip(trained["parallel_ops"], trained["1"], strict=True):
        np.testing.assert_array_equal(a, b)

