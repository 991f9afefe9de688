"""A new image-folder run decodes its cache in a thread while the model is built and its graphs traced."""

from __future__ import annotations

import numpy as np
import pytest

from aimodel.compat import _traced_function
from aimodel.config import load_config
from aimodel.data import load_data
from aimodel.data.imagefiles import ImageFiles
from aimodel.data.pipeline import element_spec, make_dataset
from aimodel.errors import DataError
from aimodel.training import early_trace
from aimodel.training.runner import train
from tests._data_fixtures import image_folder
from tests.conftest import TINY, write_config


def _cfg(tmp_path, **dataset):
    root = image_folder(tmp_path / "pets", per_class=12)
    data = dict(TINY, dataset={"name": "image_folder", "path": str(root), "validation_split": 0.25,
                               "test_split": 0.2, **dataset})
    data["training"] = dict(TINY["training"], batch_size=8, steps_per_execution=2)
    return load_config(write_config(tmp_path / "c.yaml", data))


def _metrics(run):
    return [line.split(",") for line in (run / "metrics.csv").read_text().splitlines()]


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])  # integer labels, one-hot labels
def test_the_spec_traced_early_is_the_one_fit_gets(tmp_path, label_smoothing):
    cfg = _cfg(tmp_path)
    bundle = load_data(cfg.dataset, cfg.seed)
    one_hot = bundle.num_classes if label_smoothing else None
    before = element_spec(bundle.train, one_hot=one_hot)
    assert bundle.train.x.pixels is None  # nothing was decoded for it
    for cache in ("memory", str(tmp_path / "cache")):
        bundle.train.x.cache, bundle.train.x.pixels = cache, None
        bundle.train.x.fill()
        assert make_dataset(bundle.train, 8, one_hot=one_hot).element_spec == before


def test_a_new_image_folder_run_starts_its_first_epoch_traced(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path)
    calls = []
    real_trace = early_trace.trace

    def trace(model, cfg_, bundle):
        calls.append(real_trace(model, cfg_, bundle))
        return calls[-1]

    monkeypatch.setattr(early_trace, "trace", trace)
    from aimodel.training import checkpoint_writer

    preloads = []
    real_preload = checkpoint_writer.preload_shadow
    monkeypatch.setattr(checkpoint_writer, "preload_shadow", lambda m: preloads.append(real_preload(m)) or preloads[-1])
    early = train(cfg, run_dir=tmp_path / "early")
    assert calls == [True]  # traced beside the fill
    # the checkpoint writer's shadow was loaded beside the fill too, and wrote every epoch in the background
    assert len(preloads) == 1 and preloads[0] is not None and not preloads[0].folder.exists()
    assert "in the background" in (tmp_path / "early" / "train.log").read_text()
    for kind in ("train", "test"):
        # fit used the early trace: one trace of each function in the whole run
        assert _traced_function(getattr(early.model, f"{kind}_function")).experimental_get_tracing_count() == 1
    assert (tmp_path / "early" / "best.keras").is_file() and "images ready" in (tmp_path / "early" / "train.log").read_text()

    # The same run traced in fit, as before: the same epochs.
    monkeypatch.setattr(early_trace, "can_trace_early", lambda *a: False)
    late = train(cfg, run_dir=tmp_path / "late")
    assert calls == [True]
    a, b = _metrics(tmp_path / "early"), _metrics(tmp_path / "late")
    assert a[0] == b[0] and len(a) == len(b) == 3
    col = a[0].index("loss")
    np.testing.assert_allclose([float(r[col]) for r in a[1:]], [float(r[col]) for r in b[1:]], rtol=1e-4)
    assert late.final_metrics.keys() == early.final_metrics.keys()


@pytest.mark.parametrize("dataset", [{}, {"normalize": "standardize"}])
def test_a_failing_fill_fails_the_run_with_its_message(tmp_path, monkeypatch, dataset):
    cfg = _cfg(tmp_path, **dataset)

    def broken(self, out):
        raise DataError("pets/cat/3.png: cannot be decoded (truncated file)")

    monkeypatch.setattr(ImageFiles, "_decode_into", broken)
    with pytest.raises(DataError, match="truncated file"):
        train(cfg, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_only_what_the_pixels_do_not_shape_is_traced_early(tmp_path):
    from aimodel.training.distribute import Distribution

    cfg = _cfg(tmp_path)
    bundle = load_data(cfg.dataset, cfg.seed)
    assert early_trace.can_trace_early(cfg, bundle, Distribution())
    standardized = _cfg(tmp_path / "s", normalize="standardize")
    assert not early_trace.can_trace_early(standardized, load_data(standardized.dataset, 7), Distribution())
    weighted = cfg.model_copy(update={"training": cfg.training.model_copy(update={"class_weight": "balanced"})})
    assert not early_trace.can_trace_early(weighted, bundle, Distribution())
    bundle.train.x.fill()
    bundle.val.x.fill()
    assert not early_trace.can_trace_early(cfg, bundle, Distribution())  # nothing left to decode beside it
