"""The input contract inside the exported file itself: ONNX ``metadata_props`` and the TFLite ``metadata`` table.

The export's ``.json`` says which value range and layout an image model takes; a file copied away without
its ``.json`` (into an app, onto a device) carries the same JSON under :data:`CONTRACT_KEY`, where
``onnx.load(...).metadata_props``, onnxruntime's ``get_modelmeta().custom_metadata_map`` and any
``.tflite`` metadata reader find it. :data:`WRITERS` holds one writer per format, :data:`READERS` one reader.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Optional

from aimodel.inference.exported import require
from aimodel.registry import Registry

#: the metadata key (ONNX) and metadata name (TFLite) the contract is written under
CONTRACT_KEY = "aimodel.input_contract"
#: TFLite's file identifier (``file_identifier "TFL3"`` in schema.fbs)
TFLITE_IDENTIFIER = b"TFL3"
#: TFLite's buffers are 16-byte aligned (``force_align: 16`` in schema.fbs), which flatc's Python does not do
TFLITE_BUFFER_ALIGN = 16

WRITERS: Registry[Callable[[Path, str], None]] = Registry("contract writer")
READERS: Registry[Callable[[Path], Optional[str]]] = Registry("contract reader")


def write_contract(fmt: str, path: Path, contract: Optional[dict]) -> bool:
    """Write ``contract`` into the export file at ``path`` when its format has metadata; True if written."""
    if contract is None or fmt not in WRITERS:
        return False
    WRITERS.get(fmt)(Path(path), json.dumps(contract, sort_keys=True))
    return True


def read_contract(fmt: str, path: Path) -> Optional[dict]:
    """The contract written into ``path`` by :func:`write_contract`, or None."""
    if fmt not in READERS:
        return None
    text = READERS.get(fmt)(Path(path))
    return json.loads(text) if text is not None else None


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.meta")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --- ONNX -----------------------------------------------------------------------------------------


@WRITERS.register("onnx")
def _write_onnx(path: Path, text: str) -> None:
    onnx = require("onnx", "writing ONNX metadata")
    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key != CONTRACT_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=CONTRACT_KEY, value=text)
    _replace(path, model.SerializeToString())


@READERS.register("onnx")
def _read_onnx(path: Path) -> Optional[str]:
    onnx = require("onnx", "reading ONNX metadata")
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return props.get(CONTRACT_KEY)


# --- TFLite ---------------------------------------------------------------------------------------


def _aligned_buffer(schema):
    """``BufferT`` whose ``data`` is packed 16-byte aligned, as TFLite's kernels expect of constant tensors."""

    class AlignedBuffer(schema.BufferT):
        def Pack(self, builder):
            data = None
            if self.data is not None:
                raw = self.data.tobytes() if hasattr(self.data, "tobytes") else bytes(self.data)
                builder.StartVector(1, len(raw), TFLITE_BUFFER_ALIGN)
                builder.head = builder.head - len(raw)
                builder.Bytes[builder.head:builder.head + len(raw)] = raw
                data = builder.EndVector()
            schema.BufferStart(builder)
            if data is not None:
                schema.BufferAddData(builder, data)
            schema.BufferAddOffset(builder, self.offset)
            schema.BufferAddSize(builder, self.size)
            return schema.BufferEnd(builder)

    return AlignedBuffer


@WRITERS.register("tflite")
def _write_tflite(path: Path, text: str) -> None:
    import flatbuffers

    from aimodel.compat import tflite_schema

    require("ai_edge_litert", "writing TFLite metadata")
    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)
    aligned = _aligned_buffer(schema)
    buffers = []
    for old in model.buffers or []:
        new = aligned()
        new.data, new.offset, new.size = old.data, old.offset, old.size
        buffers.append(new)
    entry = aligned()
    entry.data = list(text.encode("utf-8"))
    buffers.append(entry)
    model.buffers = buffers
    meta = schema.MetadataT()
    meta.name, meta.buffer = CONTRACT_KEY, len(buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if _name(m) != CONTRACT_KEY] + [meta]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    _replace(path, bytes(builder.Output()))


def _name(meta) -> str:
    name = meta.name if hasattr(meta, "name") else meta.Name()  # the object API's MetadataT, or a table
    return name.decode("utf-8") if isinstance(name, bytes) else str(name)


@READERS.register("tflite")
def _read_tflite(path: Path) -> Optional[str]:
    from aimodel.compat import tflite_schema

    require("ai_edge_litert", "reading TFLite metadata")
    schema = tflite_schema()
    model = schema.Model.GetRootAs(bytearray(path.read_bytes()), 0)
    for i in range(model.MetadataLength()):
        meta = model.Metadata(i)
        if _name(meta) == CONTRACT_KEY:
            return model.Buffers(meta.Buffer()).DataAsNumpy().tobytes().decode("utf-8")
    return None
