"""Helpers of the serve tests: digit images as PNG bytes, a crafted decompression bomb, a free port."""

from __future__ import annotations

import io
import socket
import struct
import zlib

import numpy as np
from PIL import Image


def digit_pngs(n: int = 6, photo: bool = False) -> dict[str, bytes]:
    """The first ``n`` scikit-learn digits as PNG files named ``<i>_<label>.png``.

    ``photo=True`` makes them look like a photographed drawing (64×64, dark ink on light
    paper), which exercises predict's polarity and crop preparation.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    out = {}
    for i in range(n):
        pixels = np.clip(d.images[i] * (255 / 16), 0, 255).astype(np.uint8)
        img = Image.fromarray(pixels)
        if photo:
            img = Image.fromarray(255 - np.asarray(img.resize((40, 40), Image.Resampling.BICUBIC)))
            paper = Image.new("L", (64, 64), 255)
            paper.paste(img, (12, 12))
            img = paper
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out[f"{i}_{d.target[i]}{'_photo' if photo else ''}.png"] = buf.getvalue()
    return out


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header promises ``width × height`` pixels and whose data is one tiny chunk (a bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
