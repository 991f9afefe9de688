"""Recurrent networks for text, numeric sequences and images read row by row."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from aimodel.models.common import ClassifierHead, Activation, ModelBase, weight_kwargs
from aimodel.models.registry import ARCHITECTURES

PositiveInt = Annotated[int, Field(ge=1)]


class RnnModel(ModelBase):
    """Stacked recurrent layers (LSTM, GRU or SimpleRNN), optionally bidirectional.

    Text goes through an embedding (padding is masked); a numeric sequence
    ``(T, F)`` goes in as it is; an image ``(H, W, C)`` is read as H steps of
    W×C numbers (one row per step).
    """

    architecture: Literal["rnn"] = "rnn"
    cell: Literal["LSTM", "GRU", "SimpleRNN"] = Field("LSTM", description="Recurrent cell type.")
    units: list[PositiveInt] = Field(
        [64], min_length=1, description="Units of each recurrent layer; one stacked layer per entry."
    )
    bidirectional: bool = Field(False, description="Read each sequence both ways (doubles the units).")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on each recurrent layer's inputs.")
    recurrent_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Dropout on the recurrent state (slower: no fused kernel)."
    )
    embedding_dim: int = Field(64, ge=1, description="Text only: size of each token's embedding vector.")
    pooling: Literal["last", "mean", "max"] = Field(
        "last", description="How the last layer's outputs become a vector: its final state, or the "
        "mean or max over all (unpadded) steps."
    )
    dense: list[PositiveInt] = Field([], description="Units of dense layers before the classifier.")
    dense_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Dropout before each dense layer and the classifier."
    )
    activation: Activation = Field("relu", description="Activation of the dense layers.")

    def classifier_head(self) -> ClassifierHead:
        return ClassifierHead(tuple(self.dense), self.dense_dropout, self.activation)


@ARCHITECTURES.register("rnn")
def build_rnn(x, cfg: RnnModel, spec):
    from keras import layers

    from aimodel.models.layers import SequencePool

    if spec.kind == "text":
        x = layers.Embedding(spec.vocab_size, cfg.embedding_dim, mask_zero=True, name="embedding")(x)
    elif spec.kind == "image":
        height, width, channels = spec.shape
        x = layers.Reshape((height, width * channels), name="rows")(x)
    cell = {"LSTM": layers.LSTM, "GRU": layers.GRU, "SimpleRNN": layers.SimpleRNN}[cfg.cell]
    for i, units in enumerate(cfg.units):
        keep_sequence = i < len(cfg.units) - 1 or cfg.pooling != "last"
        layer = cell(
            units, return_sequences=keep_sequence, dropout=cfg.dropout,
            recurrent_dropout=cfg.recurrent_dropout, name=f"{cfg.cell.lower()}{i + 1}", **weight_kwargs(cfg),
        )
        if cfg.bidirectional:
            layer = layers.Bidirectional(layer, name=f"bidirectional{i + 1}")
        x = layer(x)
    if cfg.pooling != "last":
        x = SequencePool(cfg.pooling, name=f"{cfg.pooling}_pool")(x)
    return x  # the factory adds model.classifier_head()


build_rnn.kinds = ("text", "sequence", "image")
