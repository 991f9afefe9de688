"""Importing TensorFlow without its start-up log lines, for the CLI and for ``aimodel serve``'s workers."""

from __future__ import annotations

import os
import sys


def import_tensorflow(debug: bool = False) -> None:
    """Import Keras and TensorFlow now, hiding their start-up log lines (oneDNN, CUDA) unless ``debug``.

    TensorFlow 2.21 prints them while loading its libraries, before it reads
    TF_CPP_MIN_LOG_LEVEL set from Python, so stderr is silenced for the import only.
    """
    if "tensorflow" in sys.modules or debug:
        return
    sys.stderr.flush()
    devnull, saved = os.open(os.devnull, os.O_WRONLY), os.dup(2)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
