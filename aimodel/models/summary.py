"""Build a config's model without training it and describe it (``aimodel model summary``).

The model needs an :class:`InputSpec`. A dataset loader whose input is known
without reading the data (the sets Keras downloads) offers
``loader.describe(dataset_cfg) -> InputSpec``, so a summary works offline and
instantly; any other dataset (local files, scikit-learn's digits) is loaded,
because its shapes, classes and vocabulary come from the data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from aimodel.data.base import DATASETS, DataBundle, Split
from aimodel.data.spec import InputSpec

@dataclass
class LayerRow:
    name: str
    type: str
    output_shape: str
    params: int


@dataclass
class ModelSummary:
    """What ``aimodel model summary`` prints."""

    name: str
    architecture: str
    input: dict
    input_source: str
    layers: list[LayerRow]
    total_params: int
    trainable_params: int
    non_trainable_params: int
    size_bytes: int
    notes: list[str] = field(default_factory=list)
    #: the config's ``task`` (classification, regression, multilabel)
    task: str = "classification"

    def to_json(self) -> dict:
        return asdict(self)


def describe_input(cfg) -> tuple[DataBundle, str]:
    """A bundle to build ``cfg``'s model from, and where its spec came from.

    ``cfg`` is a validated :class:`aimodel.config.Config` (the assembled config sits above the models).

    Returns a spec-only bundle (``notes["spec_only"]``, placeholder training
    data) when the shapes are known without reading the data.
    """
    from aimodel.data import load_data

    loader = DATASETS.get(cfg.dataset.name)
    describe = getattr(loader, "describe", None)
    if describe is not None:
        return placeholder_bundle(describe(cfg.dataset)), "described by the dataset source (not loaded)"
    return load_data(cfg.dataset, cfg.seed, cfg.task), "loaded from the dataset"


def placeholder_bundle(spec: InputSpec) -> DataBundle:
    """Two blank samples of the right shape: enough to build a model, never to train one."""
    import numpy as np

    if spec.kind == "text":
        x = np.array(["", ""])
    elif spec.kind == "image":
        x = np.zeros((2,) + tuple(spec.shape), np.uint8)
    else:
        x = np.zeros((2,) + tuple(spec.shape), np.float32)
    split = Split(x, np.array([0, 1], np.int64))
    return DataBundle(train=split, val=None, test=split, spec=spec, notes={"spec_only": True})


def summarize(cfg) -> ModelSummary:
    """Build (not train) the model ``cfg`` describes and list its layers, parameters and size."""
    import numpy as np

    from aimodel.models.factory import build_model

    bundle, source = describe_input(cfg)
    model = build_model(cfg, bundle)
    rows = []
    for layer in model.layers:
        try:
            shape = str(tuple(layer.output.shape))
        except (AttributeError, ValueError):
            shape = "?"
        rows.append(LayerRow(layer.name, type(layer).__name__, shape, int(layer.count_params())))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    size = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    notes = []
    if bundle.notes.get("spec_only") and bundle.spec.kind == "text":
        notes.append(
            f"vocabulary assumed full ({bundle.spec.vocab_size} tokens, the maximum): it is learned "
            "from the training texts when training starts"
        )
    described = bundle.spec.to_json()  # vocab_size and sequence_length as the input builders set them
    return ModelSummary(
        name=model.name, architecture=cfg.model.architecture, input=described,
        input_source=source, layers=rows, total_params=trainable + frozen, trainable_params=trainable,
        non_trainable_params=frozen, size_bytes=int(size), notes=notes, task=cfg.task,
    )
