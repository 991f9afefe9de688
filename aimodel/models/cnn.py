"""Convolutional networks for images."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import Field, model_validator

from aimodel.models.common import ClassifierHead, Activation, ModelBase, require, weight_kwargs
from aimodel.models.registry import ARCHITECTURES
from aimodel.section import Section, rule

PositiveInt = Annotated[int, Field(ge=1)]


class ConvBlock(Section):
    """One conv block; keys left out take the value of the same key in ``model``."""

    filters: int = Field(..., ge=1, description="Filters of every conv layer in the block.")
    convs: Optional[int] = Field(None, ge=1, description="Conv layers in the block (default: model.convs_per_block).")
    kernel_size: Optional[int] = Field(None, ge=1, description="Square kernel size (default: model.kernel_size).")
    stride: Optional[int] = Field(None, ge=1, description="Stride of the block's first conv (default: model.stride).")
    pool_size: Optional[int] = Field(None, ge=1, description="Pooling after the block, 1 = none (default: model.pool_size).")
    batch_norm: Optional[bool] = Field(None, description="Batch normalization after each conv (default: model.batch_norm).")
    activation: Optional[Activation] = Field(None, description="Activation (default: model.activation).")
    dropout: Optional[float] = Field(
        None, ge=0.0, lt=1.0, description="Dropout after the block (default: model.block_dropout)."
    )
    residual: Optional[bool] = Field(None, description="Add the block's input to its output (default: model.residual).")


class CnnModel(ModelBase):
    """Conv blocks (conv → [batch norm] → activation, then pooling), then dense layers.

    ``filters: [32]`` with ``dense: [128]`` and ``padding: valid`` is the classic
    Keras MNIST example. ``blocks:`` gives each block its own settings instead.
    """

    architecture: Literal["cnn"] = "cnn"
    filters: list[PositiveInt] = Field(
        [32, 64], min_length=1, description="Filters of each conv block; one block per entry."
    )
    blocks: Optional[list[ConvBlock]] = Field(
        None, min_length=1,
        description="Per-block settings (a list of mappings with filters, convs, kernel_size, stride, "
        "pool_size, batch_norm, activation, dropout, residual); replaces model.filters.",
    )
    convs_per_block: int = Field(1, ge=1, description="Conv layers in each block.")
    kernel_size: int = Field(3, ge=1, description="Square kernel size of every conv layer.")
    stride: int = Field(1, ge=1, description="Stride of each block's first conv layer.")
    padding: Literal["same", "valid"] = Field("same", description="Conv padding.")
    pool: Literal["max", "avg"] = Field("max", description="Pooling after each block: max or average.")
    pool_size: int = Field(2, ge=1, description="Pooling size after each block (1 = no pooling).")
    batch_norm: bool = Field(False, description="Batch normalization after each conv.")
    batch_norm_momentum: float = Field(
        0.99, gt=0.0, lt=1.0, description="Momentum of the batch norm moving statistics. With few steps per "
        "epoch (a small folder) 0.99 keeps them near their start for many epochs, so validation figures "
        "sit at chance; about 1 - 5/steps_per_epoch (e.g. 0.9) tracks the weights within an epoch.",
    )
    activation: Activation = Field("relu", description="Activation.")
    residual: bool = Field(
        False, description="Residual blocks: the block's input (projected by a 1×1 conv when the shape "
        "changes) is added before the last activation. Needs padding: same."
    )
    block_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout after each conv block.")
    head: Literal["flatten", "global_avg"] = Field(
        "flatten", description="How conv features become a vector."
    )
    dense: list[PositiveInt] = Field([128], description="Units of the dense layers before the classifier.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout before each dense layer and the classifier.")

    def classifier_head(self) -> ClassifierHead:
        return ClassifierHead(tuple(self.dense), self.dropout, self.activation)

    @model_validator(mode="before")
    @classmethod
    def _filters_from_blocks(cls, data):
        # With blocks, filters mirrors their filter counts (so a saved, resolved config reloads).
        if isinstance(data, dict) and isinstance(data.get("blocks"), list) and "filters" not in data:
            if all(isinstance(b, dict) and isinstance(b.get("filters"), int) for b in data["blocks"]):
                data = {**data, "filters": [b["filters"] for b in data["blocks"]]}
        return data

    @model_validator(mode="after")
    def _check(self):
        if self.blocks is not None and self.filters != [b.filters for b in self.blocks]:
            raise rule("blocks", "model.blocks and model.filters both describe the conv blocks and disagree; "
                       "keep one (with blocks, give the filters inside each block)")
        if self.padding == "valid":
            for i, block in enumerate(self.resolved_blocks()):
                if block.residual:
                    where = f"model.blocks[{i}].residual" if self.blocks and self.blocks[i].residual else "model.residual"
                    raise rule("padding", f"{where} needs model.padding: same (valid padding shrinks the "
                               "block's output, so its input cannot be added to it)")
        return self

    def resolved_blocks(self) -> list[ConvBlock]:
        """Every block with its unset keys filled from the model-level keys."""
        defaults = {
            "convs": self.convs_per_block, "kernel_size": self.kernel_size, "stride": self.stride,
            "pool_size": self.pool_size, "batch_norm": self.batch_norm, "activation": self.activation,
            "dropout": self.block_dropout, "residual": self.residual,
        }
        raw = self.blocks if self.blocks is not None else [ConvBlock(filters=f) for f in self.filters]
        out = []
        for block in raw:
            values = block.model_dump()
            out.append(ConvBlock(**{k: (defaults[k] if v is None and k in defaults else v) for k, v in values.items()}))
        return out


def _out_size(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


@ARCHITECTURES.register("cnn")
def build_cnn(x, cfg: CnnModel, spec):
    from keras import layers

    height, width = spec.shape[0], spec.shape[1]
    for i, block in enumerate(cfg.resolved_blocks()):
        n = i + 1
        shortcut = x
        in_height, in_width = height, width
        # max(relu(a), relu(b)) == relu(max(a, b)), bit for bit, gradients included: applied after the max
        # pooling, the relu touches a quarter of the values (seed model: -5% CPU per epoch, docs/speed.md).
        pool_first = cfg.pool == "max" and block.pool_size > 1 and block.activation == "relu"
        for j in range(block.convs):
            stride = block.stride if j == 0 else 1
            height = _out_size(height, block.kernel_size, stride, cfg.padding)
            width = _out_size(width, block.kernel_size, stride, cfg.padding)
            require(
                min(height, width) >= 1,
                f"model.kernel_size={block.kernel_size} with model.padding=valid shrinks the "
                f"{spec.shape[0]}×{spec.shape[1]} input to nothing in block {n}; "
                "use padding: same or fewer conv blocks",
            )
            x = layers.Conv2D(
                block.filters, block.kernel_size, strides=stride, padding=cfg.padding,
                use_bias=not block.batch_norm, name=f"block{n}_conv{j + 1}", **weight_kwargs(cfg),
            )(x)
            if block.batch_norm:
                x = layers.BatchNormalization(momentum=cfg.batch_norm_momentum, name=f"block{n}_bn{j + 1}")(x)
            last = j == block.convs - 1
            if block.residual and last:
                if shortcut.shape[-1] != block.filters or (in_height, in_width) != (height, width):
                    shortcut = layers.Conv2D(
                        block.filters, 1, strides=block.stride, padding="same", use_bias=False,
                        name=f"block{n}_project", **weight_kwargs(cfg),
                    )(shortcut)
                x = layers.Add(name=f"block{n}_add")([x, shortcut])
            if not (last and pool_first):
                x = layers.Activation(block.activation, name=f"block{n}_act{j + 1}")(x)
        if block.pool_size > 1:
            require(
                min(height, width) >= block.pool_size,
                f"model.pool_size={block.pool_size} does not fit the {height}×{width} feature map of "
                f"block {n} (input {spec.shape[0]}×{spec.shape[1]}); lower model.pool_size or use fewer "
                "conv blocks",
            )
            pool = layers.MaxPooling2D if cfg.pool == "max" else layers.AveragePooling2D
            x = pool(block.pool_size, name=f"block{n}_pool")(x)
            height, width = height // block.pool_size, width // block.pool_size
        if pool_first:
            x = layers.Activation(block.activation, name=f"block{n}_act{block.convs}")(x)
        if block.dropout:
            x = layers.Dropout(block.dropout, name=f"block{n}_dropout")(x)
    if cfg.head == "flatten":
        x = layers.Flatten(name="flatten")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="global_avg")(x)
    return x  # the factory adds model.classifier_head()


build_cnn.kinds = ("image",)
