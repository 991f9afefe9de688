"""Build a Keras model from a validated config: inputs, architecture, classifier head.

The factory returns an uncompiled model; how it is trained (optimizer,
schedule, loss) belongs to :mod:`aimodel.training`, which compiles it once.
"""

from __future__ import annotations

from aimodel.data.base import DataBundle
from aimodel.errors import ConfigError
from aimodel.models import cnn, mlp, pretrained, rnn, transformer  # noqa: F401  (register the builders)
from aimodel.models import inputs as _inputs  # noqa: F401  (registers text/tabular/sequence inputs)
from aimodel.models.common import classifier_head
from aimodel.models.registry import ARCHITECTURES


def build_model(cfg, bundle: DataBundle):
    """Input preprocessing + architecture + classifier head + softmax, not compiled.

    ``cfg`` is a validated :class:`aimodel.config.Config` (not imported here: the
    assembled config sits above the models that its sections come from).

    The model takes raw inputs (pixels 0..255 for images); preprocessing layers
    adapted on the training split make the saved file self-contained for predict.
    """
    import keras
    from keras import layers

    from aimodel.data.preprocessing import build_inputs

    spec = bundle.spec
    builder = ARCHITECTURES.get(cfg.model.architecture)
    kinds = getattr(builder, "kinds", ("image",))
    if spec.kind not in kinds:
        raise ConfigError(
            f"model.architecture: '{cfg.model.architecture}' does not take {spec.kind} data "
            f"(dataset.name: {cfg.dataset.name}); it takes: {', '.join(kinds)}"
        )
    import aimodel.models.layers  # noqa: F401  (registers the custom layers for loading)

    inputs, x = build_inputs(bundle, cfg)
    try:
        features = builder(x, cfg.model, spec)
    except ConfigError as exc:  # an option that does not fit the data: name the data too
        raise ConfigError(
            f"{exc} [dataset.name: {cfg.dataset.name} gives {spec.kind} inputs of shape "
            f"{tuple(spec.shape)}]"
        ) from None
    head = cfg.model.classifier_head()
    if head is not None:
        features = classifier_head(features, head, cfg.model)
    outputs = layers.Dense(
        len(spec.class_names), activation="softmax", name="predictions",
        dtype="float32",  # keeps softmax and the loss in float32 under mixed precision
    )(features)
    return keras.Model(inputs, outputs, name=cfg.name.replace(".", "_"))
