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
from aimodel.models.inputs import anchored
from aimodel.models.registry import ARCHITECTURES


def build_model(cfg, bundle: DataBundle):
    """Input preprocessing + architecture + classifier head + softmax, not compiled.

    ``cfg`` is a validated :class:`aimodel.config.Config` (not imported here: the
    assembled config sits above the models that its sections come from).

    The model takes raw inputs (pixels 0..255 for images); preprocessing layers
    adapted on the training split make the saved file self-contained for predict.

    A forecast with ``dataset.anchor: last`` works relative to each window's last target value: the input
    layer subtracts it from the target column, the regression head is fitted on the targets minus it, and a
    last layer (:data:`ADD_ANCHOR`, :class:`aimodel.models.layers.AddLast`) adds it back, so the saved model
    still answers in the target's unit and a head answering 0 forecasts persistence.
    """
    import keras

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
    outputs = output_head(features, bundle, cfg.task)
    if anchored(spec):  # the head forecast the change from the window's last value: add that value back
        from aimodel.models.layers import AddLast

        outputs = AddLast(name=ADD_ANCHOR)([outputs, inputs])
    return keras.Model(inputs, outputs, name=cfg.name.replace(".", "_"))


#: task: regression: the head's last layer; it brings standardized outputs to the targets' own unit.
TARGET_UNITS = "target_units"
#: An anchored forecast's last layer: adds each window's last target value to the head's outputs.
ADD_ANCHOR = "add_anchor"


def output_head(features, bundle: DataBundle, task_name: str = "classification"):
    """The task's output layer on ``features`` (see :mod:`aimodel.tasks`).

    Classification: softmax over the classes; multilabel: one sigmoid per label; regression: one linear
    unit per target, followed by a fixed layer that multiplies by each target's training standard
    deviation and adds its mean, so the saved model (and every export of it) answers in the target's unit.
    """
    from keras import layers

    from aimodel.tasks import TASKS

    task = TASKS.get(task_name)
    outputs = layers.Dense(
        len(bundle.spec.class_names), activation=task.activation, name="predictions",
        dtype="float32",  # keeps the activation and the loss in float32 under mixed precision
    )(features)
    if task.name != "regression":
        return outputs
    mean, variance = target_moments(head_targets(bundle))
    return layers.Normalization(axis=-1, mean=mean, variance=variance, invert=True, name=TARGET_UNITS,
                                dtype="float32")(outputs)


def head_targets(bundle: DataBundle):
    """The training targets the regression head answers: ``y``, or for an anchored forecast ``y`` minus each
    window's last target value (input column 0)."""
    import numpy as np

    from aimodel.models.inputs import spec_only

    y = bundle.train.y
    if not anchored(bundle.spec) or spec_only(bundle):
        return y
    return np.asarray(y, np.float64) - np.asarray(bundle.train.x, np.float64)[:, -1, :1]


def target_moments(y) -> tuple[list[float], list[float]]:
    """Each target column's mean and variance on the training split (float64 sums, as lists)."""
    import numpy as np

    y = np.asarray(y, np.float64)
    return y.mean(axis=0).tolist(), np.maximum(y.var(axis=0), 1e-12).tolist()


def target_scale(model) -> "list[float] | None":
    """A regression model's per-target standard deviations (its :data:`TARGET_UNITS` layer), else None."""
    import numpy as np

    try:
        layer = model.get_layer(TARGET_UNITS)
    except ValueError:
        return None
    return np.sqrt(np.asarray(layer.get_config()["variance"], np.float64)).reshape(-1).tolist()
