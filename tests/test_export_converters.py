"""The export converter table and export_run's options, without converting anything."""

from __future__ import annotations

import pytest

from aimodel.errors import ExportError
from aimodel.export.converters import CONVERTERS
from aimodel.export.formats import FORMATS
from aimodel.export.run import ExportOptions, ExportRow, export_run


def test_every_format_has_one_converter_and_one_reader():
    from aimodel.inference.checkpoint import BACKENDS

    assert CONVERTERS.names() == sorted(FORMATS)
    assert all(name in BACKENDS for name in FORMATS)  # each file written is read back to verify it
    with pytest.raises(Exception, match="unknown export format 'tflit'.*did you mean 'tflite'"):
        CONVERTERS.get("tflit")


def test_keyword_arguments_replace_the_options_and_are_checked_before_any_file_is_read(tmp_path):
    missing = tmp_path / "no-such-run"
    with pytest.raises(ExportError, match="unknown format 'bogus'"):
        export_run(missing, ExportOptions(formats=["onnx"]), formats=["bogus"])
    with pytest.raises(ExportError, match="--tolerance: expected ≥ 0"):
        export_run(missing, ExportOptions(tolerance=-1))
    with pytest.raises(ExportError, match="unknown quantize 'int4'"):
        export_run(missing, quantize=["int4"])
    with pytest.raises(TypeError, match="unexpected keyword argument 'format'"):
        export_run(missing, format=["onnx"])
    with pytest.raises(TypeError, match="must be an ExportOptions"):
        export_run(missing, ["onnx"])


def test_a_report_row_keeps_the_report_json_key_order():
    measured = dict(file="model.onnx", format="onnx", quantization="none", bytes=10, accuracy=0.9, latency_ms=1.0,
                    throughput_per_s=5.0, accuracy_diff_points=0.0, max_prob_diff=0.0, agreement=1.0, status="ok")
    row = ExportRow(measured, notes=["n"], float_bytes=10, size_ratio=1.0)
    assert (row.file, row.format, row.bytes, row.status) == ("model.onnx", "onnx", 10, "ok")
    assert list(row.to_json()) == ["file", "format", "quantization", "bytes", "accuracy", "latency_ms",
                                   "throughput_per_s", "accuracy_diff_points", "max_prob_diff", "agreement", "status",
                                   "notes", "float_bytes", "size_ratio"]
