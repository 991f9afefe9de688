"""Register aimodel's custom Keras layers as soon as Keras is imported, without importing it here.

A saved ViT or Transformer names its layers by their registered names (``aimodel>ClassToken``).
Keras finds those in the table that ``@keras.saving.register_keras_serializable`` fills when
``aimodel.models.layers`` is imported; it never imports a module that a file names (that would
run code the file chose). ``import aimodel`` must stay light (``aimodel --help`` loads no
TensorFlow), so it cannot import the layers itself. Instead :func:`install` waits for Keras:
if Keras is already loaded the layers are imported at once; otherwise a finder on
``sys.meta_path`` lets Keras' own import run and then imports the layers, so that

    import aimodel, keras
    model = keras.saving.load_model("runs/vit/1/best.keras")  # safe mode, no custom_objects

works. Only public ``importlib`` machinery is used.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import logging
import sys

log = logging.getLogger(__name__)

LAYERS = "aimodel.models.layers"


def register_layers() -> None:
    """Import :data:`LAYERS` (its decorators register the layers with Keras); a failure is logged, not raised."""
    try:
        importlib.import_module(LAYERS)
    except Exception as exc:  # never break the user's `import keras` over aimodel's layers
        log.warning("aimodel's custom Keras layers are not registered (%s: %s)", type(exc).__name__, exc)


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the real loader of ``keras`` so that the layers follow its import."""

    def __init__(self) -> None:
        self._looking = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" or self._looking:
            return None
        self._looking = True
        try:
            spec = importlib.util.find_spec(fullname)  # the other finders' answer (this one steps aside)
        finally:
            self._looking = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module) -> None:
            exec_module(module)
            uninstall()
            register_layers()

        spec.loader.exec_module = exec_then_register  # this spec's own loader object only
        return spec


_FINDER = _AfterKeras()


def install() -> None:
    """Have aimodel's layers registered with Keras now (Keras loaded) or right after Keras loads."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "saving"):
        register_layers()
    elif _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
