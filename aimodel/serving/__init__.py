"""``aimodel serve``: a trained model behind an HTTP API (TF Serving REST, uploads, a page to try it).

The model is loaded once (:mod:`aimodel.serving.model`), inputs are prepared by
the same preparers ``aimodel predict`` uses (:mod:`aimodel.serving.inputs`),
concurrent requests share model calls (:mod:`aimodel.serving.batcher`), and
:mod:`aimodel.serving.app` is the Starlette application that
:mod:`aimodel.serving.server` runs with uvicorn.
"""
