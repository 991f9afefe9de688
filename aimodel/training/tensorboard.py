"""TensorBoard logs of a run, written with TensorFlow alone.

Keras' ``TensorBoard`` callback needs the ``tensorboard`` package, which
TensorFlow 2.21 no longer installs; ``tf.summary.write`` with the scalar
plugin's metadata produces the same event files, so viewing is the only thing
that needs it (``pip install tensorboard; tensorboard --logdir runs``).
"""

from __future__ import annotations

from pathlib import Path

TENSORBOARD_DIR = "tensorboard"


class TensorBoardWriter:
    """Per-epoch scalars in ``<run>/tensorboard/{train,validation}``, as Keras lays them out."""

    def __init__(self, run_dir: Path):
        self.root = Path(run_dir) / TENSORBOARD_DIR
        self._writers: dict = {}
        self._metadata = None

    def _writer(self, name: str):
        import tensorflow as tf

        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(str(self.root / name))
        return self._writers[name]

    def write_epoch(self, epoch: int, logs: dict, learning_rate: float) -> None:
        import tensorflow as tf

        from aimodel.compat import scalar_summary_metadata

        if self._metadata is None:
            self._metadata = scalar_summary_metadata()
        groups: dict[str, dict] = {"train": {"learning_rate": learning_rate}}
        for key, value in logs.items():
            if key == "learning_rate":
                continue
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            groups.setdefault(split, {})[name] = value
        for split, values in groups.items():
            writer = self._writer(split)
            with writer.as_default():
                for name, value in values.items():
                    tf.summary.write(f"epoch_{name}", tf.constant(float(value), tf.float32), step=epoch,
                                     metadata=self._metadata)
            writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
