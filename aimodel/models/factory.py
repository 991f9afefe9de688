"""Build and compile a Keras model from a validated config."""

from __future__ import annotations

from aimodel.config.schema import Config
from aimodel.data.base import DataBundle
from aimodel.errors import ConfigError
from aimodel.models import cnn, mlp, rnn, transformer  # noqa: F401  (register the builders)
from aimodel.models import inputs as _inputs  # noqa: F401  (registers text/tabular/sequence inputs)
from aimodel.models.registry import ARCHITECTURES
from aimodel.training.config import TrainingConfig


def build_model(cfg: Config, bundle: DataBundle):
    """Input preprocessing + architecture + softmax head, compiled.

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
        features = builder(x, cfg.model, spec, cfg.training)
    except ConfigError as exc:  # an option that does not fit the data: name the data too
        raise ConfigError(
            f"{exc} [dataset.name: {cfg.dataset.name} gives {spec.kind} inputs of shape "
            f"{tuple(spec.shape)}]"
        ) from None
    outputs = layers.Dense(
        len(spec.class_names), activation="softmax", name="predictions",
        dtype="float32",  # keeps softmax and the loss in float32 under mixed precision
    )(features)
    model = keras.Model(inputs, outputs, name=cfg.name.replace(".", "_"))
    compile_model(model, cfg.training)
    return model


def make_optimizer(training: TrainingConfig):
    from aimodel.training.optim import make_optimizer as _make_optimizer

    return _make_optimizer(training)


def compile_model(model, training: TrainingConfig) -> None:
    # One code path for compile settings: the runner recompiles with the epoch-based schedule.
    from aimodel.training.optim import compile_model as _compile_model

    _compile_model(model, training)
