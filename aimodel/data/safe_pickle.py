"""Read the pickled arrays inside Keras' dataset files without letting them run code.

CIFAR batches are Python pickles, and the IMDB/Reuters ``.npz`` files hold
ragged sequences as pickled object arrays. ``pickle.load`` (or
``np.load(allow_pickle=True)``) on a tampered file runs whatever the file
says; this unpickler only rebuilds numpy arrays, lists, dicts, numbers and
strings, and refuses every other global.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

from aimodel.errors import DataError

_ALLOWED = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    # Protocol-2 pickles written by Python 3 store bytes as _codecs.encode(text, "latin1"): pure, no side effects.
    ("_codecs", "encode"),
})


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can only rebuild numpy arrays and plain Python containers."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load `{module}.{name}` (only numpy arrays are allowed)")


def loads(data: bytes, what: str):
    """Unpickle ``data`` (Python 2 pickles too: their strings come back as bytes)."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise DataError(f"{what}: {exc}; the file is corrupt or not what it claims to be") from None
    except Exception as exc:  # EOFError, ValueError, ... on a damaged file
        raise DataError(f"{what}: not a readable pickle ({type(exc).__name__}: {exc})") from None


def load_npz(path: Path) -> dict:
    """Every array of an ``.npz``; object arrays are unpickled with :class:`RestrictedUnpickler`."""
    import numpy as np

    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                buf = io.BytesIO(archive.read(member))
                version = np.lib.format.read_magic(buf)
                header = (np.lib.format.read_array_header_1_0 if version[0] == 1
                          else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = header(buf)
                if dtype.hasobject:
                    arrays[member[:-4]] = loads(buf.read(), f"{path}: {member}")
                else:
                    buf.seek(0)
                    arrays[member[:-4]] = np.lib.format.read_array(buf, allow_pickle=False)
    except DataError:
        raise
    except Exception as exc:  # BadZipFile, ValueError, OSError
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    return arrays
