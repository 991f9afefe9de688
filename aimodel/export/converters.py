"""One converter per export format, in :data:`CONVERTERS` (as :data:`aimodel.inference.checkpoint.BACKENDS`
holds one reader per format).

A converter writes one :class:`~aimodel.export.formats.Target` from the inference graph into the staging
folder and returns the notes the conversion left (quantization fallbacks, ...). It may also record the size of
its format's float32 file in ``workspace.float_sizes``, for the report's size ratio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from aimodel.export.formats import Target
from aimodel.registry import Registry

#: ``converter(workspace, target, graph, path, calibration feeds or None) -> notes``
Converter = Callable[["Workspace", Target, object, Path, Optional[list]], list]

CONVERTERS: Registry[Converter] = Registry("export format")
#: the version folder a SavedModel export is written in (``model_saved_model/1/saved_model.pb``)
SAVED_MODEL_VERSION = "1"


@dataclass
class Workspace:
    """What the converters of one export share: scratch space, progress messages, float32 sizes."""

    #: scratch files that are not exports (float32 files measured for their size)
    work: Path
    say: Callable[[str], None]
    #: format -> bytes of its float32 file
    float_sizes: dict[str, int] = field(default_factory=dict)
    #: the float32 ONNX file every ONNX quantization starts from, once converted
    float_onnx: Optional[Path] = None
    #: the SavedModels every TFLite conversion starts from, by (graph, batch), each written once
    tflite_sources: dict = field(default_factory=dict)


@CONVERTERS.register("tflite")
def convert_tflite(ws: Workspace, target: Target, graph, path: Path, calib: Optional[list]) -> list:
    from aimodel.export.convert import to_tflite
    from aimodel.export.verify import size_bytes

    notes = to_tflite(graph, target.quantization, path, calib, ws.tflite_sources, ws.work)
    if "tflite" not in ws.float_sizes and target.quantization != "none":
        ws.say("converting a float32 .tflite file for the size comparison")
        to_tflite(graph, "none", ws.work / "float.tflite", None, ws.tflite_sources, ws.work)
        ws.float_sizes["tflite"] = size_bytes(ws.work / "float.tflite")
    return notes


@CONVERTERS.register("onnx")
def convert_onnx(ws: Workspace, target: Target, graph, path: Path, calib: Optional[list]) -> list:
    from aimodel.export.convert import float_onnx, quantize_onnx
    from aimodel.export.verify import size_bytes

    if ws.float_onnx is None:
        ws.float_onnx = ws.work / "float.onnx"
        float_onnx(graph, ws.float_onnx, ws.work)
        ws.float_sizes["onnx"] = size_bytes(ws.float_onnx)
    quantize_onnx(ws.float_onnx, target.quantization, path, ws.work, calib)
    return []


@CONVERTERS.register("saved_model")
def convert_saved_model(ws: Workspace, target: Target, graph, path: Path, calib: Optional[list]) -> list:
    from aimodel.export.graph import write_saved_model

    # TF Serving's layout: --model_base_path=<export>/model_saved_model serves <base>/1/saved_model.pb
    write_saved_model(graph, path / SAVED_MODEL_VERSION)
    return []
