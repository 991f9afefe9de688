"""TF Serving REST in full (signature_def, named inputs, versions/labels, methods) and the SavedModel layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from aimodel.export.run import export_run


@pytest.fixture(scope="module")
def saved_model(trained_run, tmp_path_factory) -> Path:
    """trained_run's SavedModel export (in a copy of the run, so the shared run stays as it is)."""
    run = tmp_path_factory.mktemp("sm") / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("exports"))
    export_run(run, formats=["saved_model"], quantize=["none"])
    return run / "exports" / "model_saved_model"


def test_the_saved_model_export_has_tf_servings_version_folder(saved_model, trained_run):
    import tensorflow as tf

    from aimodel.inference.predict import Predictor

    assert (saved_model / "1" / "saved_model.pb").is_file()
    assert not (saved_model / "saved_model.pb").exists()
    loaded = tf.saved_model.load(str(saved_model / "1"))  # what --model_base_path=<base> serves as version 1
    fn = loaded.signatures["serving_default"]
    (key, spec), = fn.structured_input_signature[1].items()
    assert spec.shape.as_list() == [None, 8, 8, 1]
    pixels = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    got = next(iter(fn(**{key: tf.constant(pixels)}).values())).numpy()
    want = Predictor(trained_run).probabilities(list(pixels))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_aimodel_reads_the_base_and_the_version_folder(saved_model, trained_run):
    from aimodel.inference.predict import Predictor

    pixels = list(np.random.default_rng(1).uniform(0, 255, (2, 8, 8, 1)).astype(np.float32))
    want = Predictor(trained_run).probabilities(pixels)
    for path in (saved_model, saved_model / "1"):
        predictor = Predictor(path)
        assert predictor.checkpoint.format == "saved_model"
        assert predictor.spec.class_names == [str(i) for i in range(10)]  # the .json beside the base folder
        np.testing.assert_allclose(predictor.probabilities(pixels), want, atol=1e-5)
