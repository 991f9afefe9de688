"""Decode an image folder's cache in a thread while the model is built and its training graph traced.

A new run on an image folder used to do three things one after the other before its first step:
decode every file into the cache (TensorFlow's decoders, C++: the GIL is free), build the model, then
trace Keras' train function inside the first epoch (Python: it holds the GIL). On the small photo folder
of issue 31 (1,600 JPEGs, the seed model at 64×64) the decode took 0.5–0.8 s and the two traces (training
and validation) about 0.5 s of the first epoch, which ran 1.8× a steady one. Now the decode runs in a
thread and the main thread builds, compiles and traces meanwhile (:func:`aimodel.compat.trace_fit_functions`),
so the two overlap and the first epoch starts traced (docs/speed.md, "Small photo folders").

Only where nothing the model needs comes from the pixels and the traced signature is the one ``fit``
will use: a new single-process run, ``dataset.normalize: scale`` (``standardize`` measures the decoded
pixels), one training phase, no class weights (they add a weight to every batch). Elsewhere the cache
is filled first, as before, and Keras traces in ``fit``.
"""

from __future__ import annotations

import logging
import threading
from typing import Optional

from aimodel.training import phases

log = logging.getLogger(__name__)


class CacheFill:
    """Fills the decoded-pixel caches of a bundle's training and validation splits, now or in a thread."""

    def __init__(self, bundle, background: bool):
        self.bundle = bundle
        self.splits = [s for s in (bundle.train, bundle.val) if s is not None and s.streamed]
        self.background = background and any(_needs_fill(s) for s in self.splits)
        self._seconds = 0.0
        self._error: Optional[BaseException] = None
        self._thread: Optional[threading.Thread] = None
        if self.background:
            self._thread = threading.Thread(target=self._run, name="aimodel-image-cache", daemon=True)
            self._thread.start()
        else:
            self._run()

    def _run(self) -> None:
        try:
            self._seconds = sum(s.x.fill() for s in self.splits)
        except BaseException as exc:  # noqa: BLE001 - raised again on the main thread by note()
            self._error = exc

    def note(self) -> Optional[str]:
        """Wait for the fill; the line the run log gets about it (None for data without an image cache).
        A failure of the fill (a bad file) is raised here, on the caller's thread."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        note = self.bundle.notes.get("image_cache")
        if not note:
            return None
        if note["mode"] == "stream":
            return f"images: {note['decision']}"
        count = sum(len(s) for s in self.splits)
        return f"images: {note['decision']}; {count:,} images ready in {self._seconds:.1f} s"


def _needs_fill(split) -> bool:
    return bool(split.x.cache) and split.x.pixels is None


def can_trace_early(cfg, bundle, dist) -> bool:
    """True when the model can be built and traced before the image cache is filled (module docstring)."""
    from aimodel.training.optim import class_weights

    return (dist.mode == "none" and getattr(cfg.dataset, "normalize", "scale") == "scale"
            and phases.plan(cfg) is None and class_weights(cfg, bundle) is None
            and any(s is not None and s.streamed and _needs_fill(s) for s in (bundle.train, bundle.val)))


def trace(model, cfg, bundle) -> bool:
    """Trace ``model``'s train (and test) function for the datasets ``fit`` will get; True when traced."""
    import numpy as np

    from aimodel.compat import trace_fit_functions
    from aimodel.data.pipeline import element_spec
    from aimodel.training.optim import uses_one_hot

    t = cfg.training
    one_hot = bundle.num_classes if uses_one_hot(t) else None
    train_spec = element_spec(bundle.train, one_hot=one_hot)
    val_spec = element_spec(bundle.val, one_hot=one_hot) if bundle.val is not None else None
    x, y = train_spec
    batch = (np.zeros((1, *x.shape[1:]), x.dtype.as_numpy_dtype), np.zeros((1, *y.shape[1:]), y.dtype.as_numpy_dtype))
    traced = trace_fit_functions(model, batch, train_spec, val_spec)
    if not traced:
        log.info("the training graph is traced in the first epoch instead (it could not be traced early)")
    return traced
