"""Build and compile a Keras model from a validated config."""

from __future__ import annotations

from aimodel.config.schema import Config
from aimodel.training.config import TrainingConfig
from aimodel.data.base import InputSpec
from aimodel.models import cnn  # noqa: F401  (registers the builder)
from aimodel.models.registry import ARCHITECTURES


def build_model(cfg: Config, spec: InputSpec):
    """Input preprocessing + architecture + softmax head, compiled.

    The model takes raw pixels (0..255); the ``Rescaling`` layer makes the
    saved file self-contained for predict.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=spec.shape, name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    features = ARCHITECTURES.get(cfg.model.architecture)(x, cfg.model, spec, cfg.training)
    outputs = layers.Dense(len(spec.class_names), activation="softmax", name="predictions")(features)
    model = keras.Model(inputs, outputs, name=cfg.name.replace(".", "_"))
    compile_model(model, cfg.training)
    return model


def make_optimizer(training: TrainingConfig):
    import keras

    decay = training.weight_decay or None
    lr = training.learning_rate
    if training.optimizer == "adam":
        return keras.optimizers.Adam(lr, weight_decay=decay)
    if training.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=training.weight_decay or 0.004)
    if training.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=training.momentum, weight_decay=decay)
    return keras.optimizers.RMSprop(lr, momentum=training.momentum, weight_decay=decay)


def compile_model(model, training: TrainingConfig) -> None:
    import keras

    model.compile(
        optimizer=make_optimizer(training),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        steps_per_execution=training.steps_per_execution,
    )
