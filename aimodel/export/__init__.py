"""Exporting a trained run to TFLite, ONNX and SavedModel files, each verified against best.keras.

    from aimodel.export import export_run
    report = export_run("runs/mnist_cnn/1", formats=["tflite"], quantize=["int8"])

The files are read back by the backends in :mod:`aimodel.inference.exported`, so
``aimodel evaluate`` and ``aimodel predict`` take them like a ``.keras`` file.
"""

__all__ = ["export_run"]


def __getattr__(name):
    # Lazy, so the CLI can read the defaults in aimodel.export.formats without loading NumPy.
    if name == "export_run":
        from aimodel.export.run import export_run

        return export_run
    raise AttributeError(f"module 'aimodel.export' has no attribute {name!r}")
