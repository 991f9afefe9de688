"""Transformer encoders: for text (token embeddings) and for images as a ViT (patches)."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import Field, model_validator

from aimodel.models.common import ClassifierHead, Activation, ModelBase, describe_shape, require, weight_kwargs
from aimodel.models.registry import ARCHITECTURES
from aimodel.section import rule

PositiveInt = Annotated[int, Field(ge=1)]


class TransformerModel(ModelBase):
    """An encoder of ``num_layers`` blocks over learned positional embeddings.

    Text: token embeddings, padding masked out of attention and pooling.
    Images (ViT): non-overlapping ``patch_size``×``patch_size`` patches, each
    projected to ``embed_dim``. Numeric sequences: each step projected to ``embed_dim``.
    """

    architecture: Literal["transformer"] = "transformer"
    num_layers: int = Field(2, ge=1, description="Encoder blocks.")
    embed_dim: int = Field(64, ge=1, description="Width of the token vectors throughout the encoder.")
    num_heads: int = Field(4, ge=1, description="Attention heads per block.")
    key_dim: Optional[int] = Field(
        None, ge=1, description="Size of each head's queries and keys (default: embed_dim / num_heads)."
    )
    ff_dim: int = Field(128, ge=1, description="Hidden units of each block's feed-forward network.")
    ff_activation: Activation = Field("gelu", description="Activation inside the feed-forward network.")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout on embeddings and each block's sub-layers.")
    attention_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on attention weights.")
    norm: Literal["pre", "post"] = Field(
        "pre", description="Layer norm before each sub-layer (pre, steadier) or after the residual add (post)."
    )
    position_embedding: Literal["learned", "sinusoidal", "none"] = Field(
        "learned", description="How token order enters: a learned vector per position, fixed sine/cosine "
        "waves (Vaswani et al.), or none (the encoder then sees a bag of tokens; order is lost)."
    )
    patch_size: int = Field(4, ge=1, description="Images only: side of the square patches (ViT).")
    pooling: Literal["mean", "max", "cls"] = Field(
        "mean", description="How the encoded tokens become one vector: mean or max over the (unpadded) "
        "tokens, or a learned class token (as in ViT/BERT)."
    )
    dense: list[PositiveInt] = Field([], description="Units of dense layers before the classifier.")
    dense_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout before each dense layer and the classifier.")
    activation: Activation = Field("relu", description="Activation of the dense layers.")

    def classifier_head(self) -> ClassifierHead:
        return ClassifierHead(tuple(self.dense), self.dense_dropout, self.activation)

    @model_validator(mode="after")
    def _check(self):
        if self.key_dim is None and self.embed_dim % self.num_heads:
            raise rule("num_heads", f"model.embed_dim={self.embed_dim} is not divisible by "
                       f"model.num_heads={self.num_heads}; change one or set model.key_dim")
        return self

    def head_size(self) -> int:
        return self.key_dim or self.embed_dim // self.num_heads


@ARCHITECTURES.register("transformer")
def build_transformer(x, cfg: TransformerModel, spec):
    from keras import layers

    from aimodel.models.layers import ClassToken, PositionEmbedding, SequencePool, SinePositionEncoding, TransformerBlock

    if spec.kind == "text":
        x = layers.Embedding(spec.vocab_size, cfg.embed_dim, mask_zero=True, name="token_embedding")(x)
    elif spec.kind == "image":
        height, width = spec.shape[0], spec.shape[1]
        p = cfg.patch_size
        require(
            p <= min(height, width),
            f"model.patch_size={p} is larger than the {describe_shape(spec.shape)} images; "
            f"use a patch_size of at most {min(height, width)}",
        )
        require(
            height % p == 0 and width % p == 0,
            f"model.patch_size={p} does not divide the {describe_shape(spec.shape)} images evenly "
            "(pixels at the edge would be dropped); pick a divisor of both sides",
        )
        x = layers.Conv2D(cfg.embed_dim, p, strides=p, name="patch_embedding", **weight_kwargs(cfg))(x)
        x = layers.Reshape(((height // p) * (width // p), cfg.embed_dim), name="patches")(x)
    else:
        x = layers.Dense(cfg.embed_dim, name="step_embedding", **weight_kwargs(cfg))(x)
    if cfg.pooling == "cls":
        x = ClassToken(name="class_token")(x)
    if cfg.position_embedding == "learned":
        x = PositionEmbedding(x.shape[1], name="position_embedding")(x)
    elif cfg.position_embedding == "sinusoidal":
        x = SinePositionEncoding(name="position_encoding")(x)
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout, name="embedding_dropout")(x)
    kwargs = weight_kwargs(cfg)
    for i in range(cfg.num_layers):
        x = TransformerBlock(
            num_heads=cfg.num_heads, key_dim=cfg.head_size(), ff_dim=cfg.ff_dim, dropout=cfg.dropout,
            attention_dropout=cfg.attention_dropout, norm_first=cfg.norm == "pre",
            activation=cfg.ff_activation, name=f"encoder{i + 1}", **kwargs,
        )(x)
    if cfg.norm == "pre":  # pre-norm blocks leave the residual stream unnormalized
        x = layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = SequencePool("first" if cfg.pooling == "cls" else cfg.pooling, name=f"{cfg.pooling}_pool")(x)
    return x  # the factory adds model.classifier_head()


build_transformer.kinds = ("text", "image", "sequence")
