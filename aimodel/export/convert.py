"""Writing one export file: TFLite as ``model.export(format="litert")`` converts, ONNX through tf2onnx.

The converters print pages of diagnostics from C++; they are captured (shown with
``--debug``) and a failure becomes one line naming the operations that stopped it.
"""

from __future__ import annotations

import errno
import logging
import os
import re
from pathlib import Path
from typing import Optional

from aimodel.errors import ExportError, StorageError, storage_error
from aimodel.hardware import int8_saturates
from aimodel.export.graph import InferenceGraph, write_saved_model
from aimodel.inference.exported import captured, require

log = logging.getLogger(__name__)

#: ONNX opset of the exported files (onnxruntime 1.20+ runs it; so do most other runtimes of 2024+)
ONNX_OPSET = 17


#: what an export that could not write tells the user to do (not training's "--resume" hint)
EXPORT_RETRY = "free space or fix the permissions, or pass --out DIR, then run aimodel export again"


def storage_failure(exc: BaseException, where: str | Path) -> Optional[StorageError]:
    """The :class:`StorageError` naming ``where`` when ``exc`` (or what caused it) is a full or read-only disk.

    Converters wrap the ``OSError`` in their own exceptions and name no file, so the chain and
    the text (``[Errno 28]``, "No space left on device") are both searched.
    """
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = storage_error(current, where=str(where), retry=EXPORT_RETRY)
        if found is not None:
            return found
        current = current.__cause__ or current.__context__
    text = str(exc)
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        if f"[Errno {code}]" in text or os.strerror(code) in text:
            return storage_error(OSError(code, os.strerror(code)), where=str(where), retry=EXPORT_RETRY)
    return None


def failure_reason(exc: BaseException, printed: str = "") -> str:
    """One line saying why a conversion failed, from the exception and what the converter printed."""
    text = f"{printed}\n{exc}"
    flex = re.search(r"Flex ops: ([^\n]+)", text)
    if flex:
        ops = ", ".join(o.strip().removeprefix("Flex") for o in flex.group(1).split(","))
        return f"operations without a TFLite kernel (they need TensorFlow's Flex delegate): {ops}"
    unsupported = re.search(r"Unsupported ops: Counter\(\{([^}]*)\}\)", text)
    if unsupported:
        ops = ", ".join(re.findall(r"'([^']+)'", unsupported.group(1)))
        return f"operations tf2onnx cannot convert to ONNX: {ops}"
    illegal = sorted(set(re.findall(r"failed to legalize operation '([^']+)'", text)))
    if illegal:
        return f"operations the converter cannot lower: {', '.join(illegal)}"
    quant = sorted(set(re.findall(r"'(tfl\.[a-z_0-9]+)' op[^\n]*(?:quantiz|int8)", text, flags=re.I)))
    if quant:
        return f"operations without an int8 kernel: {', '.join(quant)}"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.strip().startswith("<")]
    return (lines[-1] if lines else type(exc).__name__)[:300]


# --- TFLite ---------------------------------------------------------------------------------------


def _tflite_options(quantization: str, calibration: Optional[list[dict]]) -> dict:
    import tensorflow as tf

    builtins = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex (SELECT_TF_OPS): LiteRT runtimes lack it
    if quantization == "none":
        return {"target_spec": {"supported_ops": builtins}}
    if quantization == "float16":
        return {"optimizations": [tf.lite.Optimize.DEFAULT],
                "target_spec": {"supported_ops": builtins, "supported_types": [tf.float16]}}
    if quantization == "dynamic":
        return {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": {"supported_ops": builtins}}
    if quantization == "int8":
        if not calibration:
            raise ExportError("--quantize int8 needs calibration samples (--calibration N, N ≥ 1)")
        return {"optimizations": [tf.lite.Optimize.DEFAULT],
                "representative_dataset": lambda: iter([dict(feed) for feed in calibration]),
                # int8 kernels only: a model with an operation that has none is refused, not half-quantized
                "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}}
    raise ExportError(f"unknown quantization '{quantization}'")


def _tflite_bytes(source: Path, options: dict) -> bytes:
    """Convert the SavedModel ``source`` with ``options``, set as ``model.export(format="litert")`` sets them
    (Flex ops allowed unless the options narrow them, resource variables on)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(source))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    converter.experimental_enable_resource_variables = True
    for attr, value in options.items():
        if attr == "target_spec":
            for key, setting in value.items():
                setattr(converter.target_spec, key, setting)
        else:
            setattr(converter, attr, value)
    return converter.convert()


def _convert_tflite(graph: InferenceGraph, batch: Optional[int], options: dict, path: Path,
                    sources: Optional[dict], work: Optional[Path]) -> None:
    """One conversion of ``graph`` at ``batch``: from the SavedModel in ``sources`` (written there the first
    time, in ``work``), or from a temporary one, as keras' litert export does on every call."""
    import tempfile

    if sources is None:
        with tempfile.TemporaryDirectory() as tmp:
            write_saved_model(graph, Path(tmp), batch)
            Path(path).write_bytes(_tflite_bytes(Path(tmp), options))
        return
    key = (id(graph), batch)
    if key not in sources:
        source = Path(tempfile.mkdtemp(prefix="tflite_source_", dir=work))
        write_saved_model(graph, source, batch)
        sources[key] = source
    Path(path).write_bytes(_tflite_bytes(sources[key], options))


def to_tflite(graph: InferenceGraph, quantization: str, path: Path,
              calibration: Optional[list[dict]] = None, sources: Optional[dict] = None,
              work: Optional[Path] = None) -> list[str]:
    """Write ``graph`` as a ``.tflite`` file; returns notes for the report.

    Tries a free batch size first and then a batch of one (recurrent layers lower to
    TFLite kernels only with static shapes); the backend runs such a file sample by sample.

    Args:
        sources: the SavedModels this export already wrote for ``graph``, by batch size; filled here, so
            each is written once (in ``work``) and converted for every quantization (9.6 of the 15 s of
            a MobileNetV3 conversion go to writing it).
    """
    options = _tflite_options(quantization, calibration)
    first: Optional[str] = None
    for batch in (None, 1):
        error = None
        with captured() as out:
            try:
                _convert_tflite(graph, batch, options, path, sources, work)
            except Exception as exc:  # the converter raises many types; each becomes one line
                error = exc
        log.debug("TFLite converter output (%s, batch %s):\n%s", quantization, batch, out.text)
        if error is None:
            return [] if batch is None else ["fixed batch of 1: runs one sample at a time"]
        Path(path).unlink(missing_ok=True)
        storage = storage_failure(error, path)
        if storage is not None:  # a full disk is not the model's fault: no retry with a batch of one
            raise storage from None
        first = first or failure_reason(error, out.text)
        Path(path).unlink(missing_ok=True)
    if quantization == "int8":
        raise ExportError(f"--quantize int8: this model cannot be fully quantized to int8 TFLite ({first}); "
                          "use --quantize dynamic or float16")
    raise ExportError(f"cannot convert this model to TFLite: {first}")


# --- ONNX -----------------------------------------------------------------------------------------


def _erfc(ctx, node, name, args):
    """tf2onnx has no Erfc (exact GELU uses it); ONNX has Erf: erfc(x) = 1 - erf(x)."""
    import numpy as np
    from tf2onnx import utils

    erf = ctx.make_node("Erf", [node.input[0]])
    one = ctx.make_const(utils.make_name(f"{name}_one"), np.array(1, np.float32))
    node.type = "Sub"
    ctx.replace_inputs(node, [one.output[0], erf.output[0]])
    return node


def float_onnx(graph: InferenceGraph, path: Path, work: Path) -> None:
    """Convert the inference-only SavedModel of ``graph`` to a float32 ``.onnx`` file."""
    require("onnx", "exporting to ONNX")
    require("tf2onnx", "exporting to ONNX")
    from tf2onnx import tf_loader

    from aimodel.compat import tf2onnx_convert_graph

    saved = work / "inference_saved_model"
    with captured() as out:
        write_saved_model(graph, saved)
        try:
            graph_def, inputs, outputs, tables, renames = tf_loader.from_saved_model(
                str(saved), None, None, tag="serve", signatures=["serve"],
                return_initialized_tables=True, return_tensors_to_rename=True)
            # not the public from_graph_def, which drops the lookup tables (StringLookup) found here
            tf2onnx_convert_graph(
                graph_def, name=graph.model.name, opset=ONNX_OPSET, input_names=inputs, output_names=outputs,
                tensors_to_rename=renames, initialized_tables=tables, output_path=str(path),
                custom_op_handlers={"Erfc": (_erfc, [])})
            error = None
        except Exception as exc:
            error = exc
    log.debug("tf2onnx output:\n%s", out.text)
    storage = storage_failure(error, path) if error is not None else None
    if storage is not None:
        raise storage from None
    reason = failure_reason(error, out.text) if error else None
    if reason is None and "Unsupported ops" in out.text:
        reason = failure_reason(RuntimeError("unsupported operations"), out.text)
    if reason:
        Path(path).unlink(missing_ok=True)
        raise ExportError(f"cannot convert this model to ONNX: {reason}")


def quantize_onnx(source: Path, quantization: str, path: Path, work: Path,
                  calibration: Optional[list[dict]] = None) -> None:
    """Write ``source`` (float32 ONNX) quantized as asked to ``path`` with onnxruntime's tools."""
    import shutil

    if quantization == "none":
        shutil.copyfile(source, path)
        return
    onnx = require("onnx", "quantizing ONNX files")
    require("onnxruntime", "quantizing ONNX files")
    with captured() as out:
        try:
            if quantization == "float16":
                from onnxruntime.transformers.float16 import convert_float_to_float16

                onnx.save(convert_float_to_float16(onnx.load(str(source)), keep_io_types=True), str(path))
            else:
                from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
                from onnxruntime.quantization.shape_inference import quant_pre_process

                prepared = work / "prepared.onnx"
                quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
                if quantization == "dynamic":
                    quantize_dynamic(str(prepared), str(path), weight_type=QuantType.QInt8)
                else:
                    if not calibration:
                        raise ExportError("--quantize int8 needs calibration samples (--calibration N, N ≥ 1)")
                    # Signed int8 saturates in onnxruntime's kernels on x86 without VNNI (AVX2 CPUs): unsigned there.
                    kind = QuantType.QUInt8 if int8_saturates() else QuantType.QInt8
                    quantize_static(str(prepared), str(path), _reader(calibration), quant_format=QuantFormat.QDQ,
                                    activation_type=kind, weight_type=kind, per_channel=True)
            error = None
        except ExportError:
            raise
        except Exception as exc:
            error = exc
    log.debug("onnxruntime quantization output:\n%s", out.text)
    storage = storage_failure(error, path) if error is not None else None
    if storage is not None:
        raise storage from None
    if error is not None:
        Path(path).unlink(missing_ok=True)
        raise ExportError(f"--quantize {quantization}: onnxruntime could not quantize this model "
                          f"({failure_reason(error, out.text)})")


def _reader(feeds: list[dict]):
    """onnxruntime's CalibrationDataReader over a list of feeds."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

    return Reader()
