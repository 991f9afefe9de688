"""Transfer learning: a ``keras.applications`` backbone, or an earlier aimodel run, under a new head.

``model.backbone`` names either a Keras application in snake case (``mobilenet_v3_small``) or a
trained aimodel model (a run directory or a ``.keras`` file). The backbone's own input
preparation travels inside the saved model: the factory hands this builder raw pixels (0..255,
see :meth:`PretrainedModel.takes_raw_pixels`), and the backbone's ``preprocess_input`` is either
built into it (MobileNetV3, EfficientNet(V2), ConvNeXt) or added as the equivalent Rescaling /
Normalization layers. Training runs in two phases (:mod:`aimodel.training.phases`): the new head
first with the backbone frozen, then the top of the backbone at a lower learning rate.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional, Union

from pydantic import Field, field_validator

from aimodel.errors import ConfigError
from aimodel.models.common import Activation, ClassifierHead, ModelBase, require
from aimodel.models.registry import ARCHITECTURES

log = logging.getLogger(__name__)

#: the nested model's name in the built network (the phases find it by this name)
BACKBONE_LAYER = "backbone"


@dataclass(frozen=True)
class Backbone:
    """One ``keras.applications`` network: its constructor, how it wants its pixels, its limits."""

    constructor: str
    #: "builtin": the network rescales 0..255 itself; "tf": to [-1, 1]; "torch": 0..1 then ImageNet mean/std
    preprocess: Literal["builtin", "tf", "torch"]
    min_size: int = 32
    alpha: bool = False  # takes a width multiplier (model.alpha)


BACKBONES: dict[str, Backbone] = {
    "mobilenet_v2": Backbone("MobileNetV2", "tf", alpha=True),
    "mobilenet_v3_small": Backbone("MobileNetV3Small", "builtin", alpha=True),
    "mobilenet_v3_large": Backbone("MobileNetV3Large", "builtin", alpha=True),
    "efficientnet_b0": Backbone("EfficientNetB0", "builtin"),
    "efficientnet_v2_b0": Backbone("EfficientNetV2B0", "builtin"),
    "efficientnet_v2_b1": Backbone("EfficientNetV2B1", "builtin"),
    "efficientnet_v2_s": Backbone("EfficientNetV2S", "builtin"),
    "resnet50_v2": Backbone("ResNet50V2", "tf"),
    "resnet101_v2": Backbone("ResNet101V2", "tf"),
    "densenet121": Backbone("DenseNet121", "torch"),
    "convnext_tiny": Backbone("ConvNeXtTiny", "builtin"),
}

_IMAGENET_MEAN = [0.485, 0.456, 0.406]
_IMAGENET_VARIANCE = [0.229**2, 0.224**2, 0.225**2]


def is_run_backbone(name: str) -> bool:
    """Whether ``model.backbone`` names an earlier aimodel model (a path) rather than a Keras network."""
    return name not in BACKBONES and ("/" in name or os.sep in name or name.endswith(".keras")
                                      or Path(name).exists())


class PretrainedModel(ModelBase):
    """A pretrained backbone (or an earlier run's network) with a new classifier head, trained in two phases.

    Phase 1 (``head_epochs``) trains the new head with the backbone frozen; phase 2 unfreezes the top
    ``fine_tune_layers`` layers of the backbone at ``learning_rate × fine_tune_lr_scale``. The
    backbone's BatchNormalization layers stay frozen, in inference mode, in both phases.
    """

    architecture: Literal["pretrained"] = "pretrained"
    backbone: str = Field(
        ..., min_length=1,
        description="A keras.applications network in snake case (mobilenet_v3_small, efficientnet_v2_b0, "
        "resnet50_v2, ...; docs/architectures.md lists them), or an earlier aimodel run directory or .keras "
        "file whose classifier is replaced.",
    )
    weights: str = Field(
        "imagenet", min_length=1,
        description="Backbone weights: imagenet (downloaded by Keras into its cache), none (random), or the "
        "path of a weights file (.weights.h5) saved from the same backbone. Ignored for a run backbone.",
    )
    alpha: Optional[float] = Field(
        None, gt=0, description="Width multiplier of MobileNet backbones (default: the network's 1.0).")
    input_size: Optional[int] = Field(
        None, ge=1, description="Resize images to this square size inside the model before the backbone "
        "(default: the dataset's size; Keras backbones need at least 32).",
    )
    head_epochs: int = Field(
        5, ge=0, description="Phase 1: epochs that train only the new head, the backbone frozen (0: none).")
    fine_tune_layers: Union[int, Literal["all"]] = Field(
        20, description="Phase 2: how many of the backbone's top layers to unfreeze after head_epochs "
        "(0: the backbone stays frozen; all: every layer). BatchNormalization layers stay frozen.",
    )
    fine_tune_lr_scale: float = Field(
        0.1, gt=0, le=1, description="Phase 2 trains at training.learning_rate times this factor.")
    dense: list[int] = Field([], description="Units of dense layers of the new head (none: pooled features → classifier).")
    dropout: float = Field(0.2, ge=0.0, lt=1.0, description="Dropout before each new dense layer and the classifier.")
    activation: Activation = Field("relu", description="Activation of the new head's dense layers.")

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, name: str) -> str:
        if name not in BACKBONES and not is_run_backbone(name):
            raise ValueError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}, or the path of an "
                             "earlier run directory or .keras file")
        return name

    def classifier_head(self) -> ClassifierHead:
        return ClassifierHead(tuple(self.dense), self.dropout, self.activation)

    def takes_raw_pixels(self) -> bool:
        """The factory passes raw 0..255 pixels: the backbone's own preprocessing follows."""
        return True

    def fine_tunes(self) -> bool:
        return self.fine_tune_layers == "all" or self.fine_tune_layers > 0


@ARCHITECTURES.register("pretrained")
def build_pretrained(x, cfg: PretrainedModel, spec):
    """The backbone (frozen for phase 1 when ``head_epochs`` > 0), called on raw pixels; pooled features out."""
    from keras import layers

    if is_run_backbone(cfg.backbone):
        backbone, x = _run_backbone(x, cfg, spec)
    else:
        backbone, x = _keras_backbone(x, cfg, spec)
    freeze_for_head(backbone, frozen=cfg.head_epochs > 0, cfg=cfg)
    features = backbone(x)
    if len(features.shape) == 4:
        features = layers.GlobalAveragePooling2D(name="backbone_pool")(features)
    return features  # the factory adds model.classifier_head() and the softmax


build_pretrained.kinds = ("image",)


# --- the backbone's trainable layers ----------------------------------------------------------


def freeze_for_head(backbone, frozen: bool, cfg: PretrainedModel) -> None:
    """Phase 1 (``frozen``): nothing in the backbone trains. Phase 2: its top ``fine_tune_layers`` layers,
    BatchNormalization excepted (frozen layers run in inference mode, so their statistics stay put)."""
    from keras import layers

    backbone.trainable = True
    inner = [layer for layer in backbone.layers if layer.weights]
    keep = 0 if frozen else (len(inner) if cfg.fine_tune_layers == "all" else min(cfg.fine_tune_layers, len(inner)))
    unfrozen = set(id(layer) for layer in inner[len(inner) - keep:]) if keep else set()
    for layer in backbone.layers:
        layer.trainable = id(layer) in unfrozen and not isinstance(layer, layers.BatchNormalization)
    if not frozen and not unfrozen:
        backbone.trainable = False


# --- keras.applications backbones ------------------------------------------------------------


def _keras_backbone(x, cfg: PretrainedModel, spec):
    import keras
    from keras import layers

    info = BACKBONES.get(cfg.backbone)
    if info is None:
        raise ConfigError(f"model.backbone: unknown backbone {cfg.backbone!r}; known: {', '.join(BACKBONES)}, "
                          "or the path of an earlier run directory or .keras file")
    height, width, channels = spec.shape
    size = (cfg.input_size, cfg.input_size) if cfg.input_size else (height, width)
    require(min(size) >= info.min_size,
            f"model.backbone: {cfg.backbone} needs images of at least {info.min_size}×{info.min_size}, got "
            f"{size[0]}×{size[1]}; set model.input_size: {info.min_size} (or larger) to resize them in the model")
    if cfg.alpha is not None and not info.alpha:
        raise ConfigError(f"model.alpha: only MobileNet backbones take a width multiplier, not {cfg.backbone}")
    if cfg.input_size:
        x = layers.Resizing(size[0], size[1], name="resize")(x)
    if channels == 1:
        log.warning("model.backbone: %s takes RGB images; the grayscale images are repeated into 3 channels "
                    "inside the model", cfg.backbone)
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    elif channels != 3:
        raise ConfigError(f"model.backbone: {cfg.backbone} takes RGB images (3 channels), the data has {channels}")
    if info.preprocess == "tf":  # keras.applications' preprocess_input(mode="tf")
        x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="backbone_preprocess")(x)
    elif info.preprocess == "torch":
        x = layers.Rescaling(1.0 / 255.0, name="backbone_rescale")(x)
        x = layers.Normalization(mean=_IMAGENET_MEAN, variance=_IMAGENET_VARIANCE, name="backbone_preprocess")(x)
    kwargs = {"include_top": False, "weights": None, "input_shape": (size[0], size[1], 3)}
    if info.alpha and cfg.alpha is not None:
        kwargs["alpha"] = cfg.alpha
    constructor = getattr(keras.applications, info.constructor)
    weights = cfg.weights
    if weights == "imagenet":
        kwargs["weights"] = "imagenet"
    try:
        backbone = constructor(**kwargs)
    except ValueError as exc:  # e.g. no ImageNet weights for this alpha or size
        raise ConfigError(f"model.backbone: {cfg.backbone} cannot be built with these options "
                          f"({_first_line(exc)})") from None
    except Exception as exc:
        if weights == "imagenet":
            raise ConfigError(_download_message(cfg.backbone, exc)) from None
        raise
    if weights not in ("imagenet", "none"):
        _load_weights_file(backbone, Path(weights), cfg.backbone)
    backbone.name = BACKBONE_LAYER
    return backbone, x


def _load_weights_file(backbone, path: Path, name: str) -> None:
    if not path.is_file():
        raise ConfigError(f"model.weights: {path}: no such file (imagenet, none, or a .weights.h5 file)")
    try:
        backbone.load_weights(path)
    except Exception as exc:
        raise ConfigError(f"model.weights: {path} does not fit the {name} backbone with these options "
                          f"({type(exc).__name__}: {_first_line(exc)[:200]})") from None


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded application weights (``$KERAS_HOME/models``, default ``~/.keras/models``)."""
    return Path(os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")) / "models"


def _download_message(backbone: str, exc: Exception) -> str:
    text = str(exc)
    url = re.search(r"https?://[^\s:]+(?::\d+)?[^\s:]*", text)
    wanted = url.group(0).rstrip(".,;") if url else None
    file = wanted.rsplit("/", 1)[-1] if wanted else "the weights file"
    where = f" from {wanted}" if wanted else ""
    return (f"model.weights: imagenet: could not download the {backbone} weights{where} "
            f"({_first_line(exc)[:120]}); offline, copy {file} into {keras_cache_dir()} by hand, "
            "or set model.weights to none or a local weights file")


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# --- an earlier aimodel run as the backbone -------------------------------------------------


def resolve_run_backbone(name: str):
    """The earlier model's file and input description: ``(model_path, meta)`` (meta may be empty)."""
    from aimodel.errors import CheckpointError
    from aimodel.inference.checkpoint import resolve_checkpoint

    try:
        ckpt = resolve_checkpoint(name)
    except CheckpointError as exc:
        raise ConfigError(f"model.backbone: {exc}") from None
    if ckpt.format != "keras":
        raise ConfigError(f"model.backbone: {name}: a backbone must be a run directory or a .keras file, "
                          f"not a {ckpt.format} export")
    return ckpt.model_path, ckpt.meta


def _run_backbone(x, cfg: PretrainedModel, spec):
    """The earlier model from its first preprocessing layer up to its classifier's input."""
    import keras

    from aimodel.errors import CheckpointError
    from aimodel.inference.checkpoint import load_model

    path, meta = resolve_run_backbone(cfg.backbone)
    if cfg.input_size:
        raise ConfigError("model.input_size: a run backbone keeps the input size it was trained on; remove it")
    old_input = (meta.get("input") or {}) if isinstance(meta, dict) else {}
    old_shape = tuple(old_input.get("shape") or ())
    if old_shape and old_shape != tuple(spec.shape):
        raise ConfigError(
            f"model.backbone: {cfg.backbone} was trained on {_shape(old_shape)} images, this dataset gives "
            f"{_shape(spec.shape)}; its input preparation must match (set dataset.image_size / color_mode "
            f"to {_shape(old_shape)})")
    try:
        old = load_model(path)
    except CheckpointError as exc:
        raise ConfigError(f"model.backbone: {exc}") from None
    if tuple(old.input_shape[1:]) != tuple(spec.shape):
        raise ConfigError(f"model.backbone: {path} takes {_shape(old.input_shape[1:])} inputs, this dataset "
                          f"gives {_shape(spec.shape)}")
    names = [layer.name for layer in old.layers]
    if "predictions" not in names:
        raise ConfigError(f"model.backbone: {path} has no 'predictions' layer; only aimodel classifiers "
                          "can be a backbone")
    start = next((old.get_layer(n) for n in ("rescale", "standardize") if n in names), None)
    if start is None:
        raise ConfigError(f"model.backbone: {path} has no rescale or standardize layer; only aimodel image "
                          "models can be a backbone")
    # From the preprocessing layer's input (raw pixels, after augmentation): the earlier run's own scaling
    # or standardization statistics stay in front of its layers. Its augmentation is left out (ours runs).
    backbone = keras.Model(start.input, old.get_layer("predictions").input, name=BACKBONE_LAYER)
    return backbone, x


def _shape(shape) -> str:
    return "×".join(str(d) for d in shape)


def started_from(cfg) -> dict:
    """What ``meta.json`` records about where a pretrained model's weights came from ({} otherwise)."""
    model = cfg.model
    if getattr(model, "architecture", None) != "pretrained":
        return {}
    if is_run_backbone(model.backbone):
        path, _ = resolve_run_backbone(model.backbone)
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        return {"started_from": {"backbone": model.backbone, "model": str(Path(path).resolve()),
                                 "sha256": digest}}
    return {"started_from": {"backbone": model.backbone, "weights": model.weights}}


def check_config(cfg) -> None:
    """Rules between ``model`` (pretrained) and the other sections, raised as pydantic rule errors."""
    from aimodel.section import rule

    model = cfg.model
    if getattr(model, "architecture", None) != "pretrained":
        return
    if getattr(cfg.dataset, "normalize", "scale") == "standardize":
        raise rule("dataset.normalize", "model.architecture: pretrained prepares pixels the backbone's own way; "
                   "dataset.normalize: standardize does not apply (remove it)")
    if cfg.training.distribute == "multi_worker" and model.fine_tunes() and model.head_epochs:
        raise rule("training.distribute", "model.architecture: pretrained trains in two phases, which "
                   "training.distribute: multi_worker does not support yet; set model.head_epochs: 0 or "
                   "model.fine_tune_layers: 0 for one phase")
