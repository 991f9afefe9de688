"""Custom Keras layers and the text standardization, each serializable so saved models load in safe mode.

Every layer keeps its ``__init__`` arguments as attributes and returns them
from ``get_config``; ``keras.models.load_model(path)`` then rebuilds it with
no ``custom_objects`` (the package is registered on import of
``aimodel.models.layers``, which the factory and the checkpoint loader import).
"""

from __future__ import annotations

import keras
from keras import layers, ops

#: Characters that end a line for Python's ``str.splitlines`` (which reads a saved vocabulary back),
#: the other Unicode separators and spaces (``\p{Z}``: no-break space, U+2028, U+2029, ...),
#: ASCII whitespace and the zero-width space: each becomes one plain space, so no token holds one.
_SEPARATORS = r"[\t\n\v\f\r\x{1c}-\x{1f}\x{85}\x{200b}\p{Z}]+"
#: Control and format characters left after that (NUL, DEL, soft hyphen, byte-order mark, ...): removed.
_INVISIBLE = r"[\p{Cc}\p{Cf}]"
#: Punctuation of any script, plus the ASCII symbols Keras' own "lower_and_strip_punctuation" removes.
_PUNCTUATION = r"[\p{P}$+<=>^`|~]"


@keras.saving.register_keras_serializable(package="aimodel")
def standardize_text(inputs):
    """The ``standardize`` step of aimodel's ``TextVectorization``: clean, lower-case, drop punctuation.

    Keras' default (``lower_and_strip_punctuation``) keeps Unicode line and
    paragraph separators (U+0085, U+2028, U+2029) and the ASCII file/group/record
    separators (``\\x1c``-``\\x1e``) inside tokens. The saved vocabulary is one
    token per line, and reading it back splits such a token in two: the model
    then either fails to load ("repeated term") or, worse, loads with every
    later token id shifted. Here every separator and whitespace character
    becomes a space (so the whitespace split never keeps one inside a token),
    other control and format characters are removed, letters of any script are
    lower-cased and punctuation of any script is removed.

    Registered with Keras, so a saved model names it and loads it in safe
    mode; it runs inside the model, so training, evaluate, predict and exports
    tokenize a text identically. Takes and returns a ``tf.string`` tensor
    (the TensorFlow backend passes one).
    """
    import tensorflow as tf

    x = tf.strings.regex_replace(inputs, _SEPARATORS, " ")
    x = tf.strings.regex_replace(x, _INVISIBLE, "")
    x = tf.strings.lower(x, encoding="utf-8")
    return tf.strings.regex_replace(x, _PUNCTUATION, "")


@keras.saving.register_keras_serializable(package="aimodel")
class PositionEmbedding(layers.Layer):
    """Adds a learned embedding of each position to a ``(batch, length, dim)`` input.

    Args:
        max_length: longest sequence the layer accepts.
        initializer: how the position table starts.

    The input's padding mask (from ``Embedding(mask_zero=True)``) passes through.
    """

    def __init__(self, max_length: int, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.max_length = int(max_length)
        self.initializer = keras.initializers.get(initializer)
        self.supports_masking = True

    def build(self, input_shape):
        self.positions = self.add_weight(
            name="positions", shape=(self.max_length, input_shape[-1]), initializer=self.initializer
        )

    def call(self, inputs):
        length = ops.shape(inputs)[1]
        return inputs + ops.cast(self.positions[None, :length, :], inputs.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(max_length=self.max_length, initializer=keras.initializers.serialize(self.initializer))
        return config


@keras.saving.register_keras_serializable(package="aimodel")
class SinePositionEncoding(layers.Layer):
    """Adds the fixed sine/cosine position signal of "Attention Is All You Need" to ``(batch, length, dim)``.

    Position ``p``, channel pair ``(2i, 2i+1)``: ``sin(p / 10000^(2i/dim))`` and
    ``cos(...)``. No weights, so it neither overfits the positions a small data
    set rarely reaches nor limits the length. The padding mask passes through.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        length, dim = ops.shape(inputs)[1], inputs.shape[-1]
        position = ops.cast(ops.arange(length), "float32")[:, None]
        channel = ops.arange(dim)
        rate = ops.power(10000.0, -ops.cast(2 * (channel // 2), "float32") / float(dim))
        angle = position * rate[None, :]
        signal = ops.where(channel[None, :] % 2 == 0, ops.sin(angle), ops.cos(angle))
        return inputs + ops.cast(signal[None], inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="aimodel")
class ClassToken(layers.Layer):
    """Prepends one learned vector (the ``[CLS]`` token, as in ViT) to each sequence."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        self.token = self.add_weight(name="token", shape=(1, 1, input_shape[-1]), initializer="zeros")

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        token = ops.broadcast_to(ops.cast(self.token, inputs.dtype), (batch, 1, ops.shape(inputs)[-1]))
        return ops.concatenate([token, inputs], axis=1)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return ops.concatenate([ops.ones_like(mask[:, :1]), mask], axis=1)

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], length, input_shape[2])


@keras.saving.register_keras_serializable(package="aimodel")
class TransformerBlock(layers.Layer):
    """One encoder block: multi-head self-attention and a feed-forward network.

    Args:
        num_heads: attention heads.
        key_dim: size of each head's queries and keys.
        ff_dim: hidden units of the feed-forward network.
        dropout: dropout on each sub-layer's output (and inside the feed-forward net).
        attention_dropout: dropout on the attention weights.
        norm_first: pre-norm (``x + f(norm(x))``, steadier for deep stacks) when true,
            post-norm (``norm(x + f(x))``, the original Transformer) when false.
        activation: of the feed-forward network's hidden layer.
        kernel_initializer, kernel_regularizer: for every dense kernel inside.

    Padded positions (the input's mask) are never attended to, and the mask
    passes through to the next layer.
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        ff_dim: int,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        norm_first: bool = True,
        activation: str = "gelu",
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        self.ff_dim = int(ff_dim)
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.norm_first = bool(norm_first)
        self.activation = activation
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.supports_masking = True
        weights = {"kernel_initializer": self.kernel_initializer, "kernel_regularizer": self.kernel_regularizer}
        self.attention = layers.MultiHeadAttention(
            num_heads=self.num_heads, key_dim=self.key_dim, dropout=self.attention_dropout,
            name="attention", **weights,
        )
        self.norm1 = layers.LayerNormalization(epsilon=1e-6, name="norm1")
        self.norm2 = layers.LayerNormalization(epsilon=1e-6, name="norm2")
        self.ff1 = layers.Dense(self.ff_dim, activation=self.activation, name="ff1", **weights)
        self.ff2 = None  # needs the model width; made in build
        self.drop_attention = layers.Dropout(self.dropout)
        self.drop_ff_hidden = layers.Dropout(self.dropout)
        self.drop_ff = layers.Dropout(self.dropout)

    def build(self, input_shape):
        dim = input_shape[-1]
        self.ff2 = layers.Dense(
            dim, name="ff2", kernel_initializer=self.kernel_initializer, kernel_regularizer=self.kernel_regularizer
        )
        self.attention.build(input_shape, input_shape)
        self.norm1.build(input_shape)
        self.norm2.build(input_shape)
        self.ff1.build(input_shape)
        self.ff2.build(tuple(input_shape[:-1]) + (self.ff_dim,))

    def _attend(self, x, attention_mask, training):
        y = self.attention(x, x, attention_mask=attention_mask, training=training)
        return self.drop_attention(y, training=training)

    def _feed_forward(self, x, training):
        y = self.drop_ff_hidden(self.ff1(x), training=training)
        return self.drop_ff(self.ff2(y), training=training)

    def call(self, inputs, mask=None, training=None):
        attention_mask = None
        if mask is not None:
            # (batch, 1, keys): every query may look at the real tokens only.
            attention_mask = ops.expand_dims(ops.cast(mask, "bool"), 1)
        x = inputs
        if self.norm_first:
            x = x + self._attend(self.norm1(x), attention_mask, training)
            return x + self._feed_forward(self.norm2(x), training)
        x = self.norm1(x + self._attend(x, attention_mask, training))
        return self.norm2(x + self._feed_forward(x, training))

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads, key_dim=self.key_dim, ff_dim=self.ff_dim, dropout=self.dropout,
            attention_dropout=self.attention_dropout, norm_first=self.norm_first, activation=self.activation,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
        )
        return config


@keras.saving.register_keras_serializable(package="aimodel")
class SequencePool(layers.Layer):
    """``(batch, length, dim)`` → ``(batch, dim)``, skipping padded positions.

    Args:
        mode: ``mean`` or ``max`` over the real positions, ``first`` (the class
            token that :class:`ClassToken` prepended) or ``last`` (the last real position).
    """

    def __init__(self, mode: str = "mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("mean", "max", "first"):
            raise ValueError(f"SequencePool mode must be mean, max or first, got {mode!r}")
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if self.mode == "first":
            return inputs[:, 0, :]
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        if self.mode == "mean":
            return ops.sum(inputs * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)
        return ops.max(ops.where(weights > 0, inputs, ops.full_like(inputs, -1e9)), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode)
        return config


@keras.saving.register_keras_serializable(package="aimodel")
class FillMissing(layers.Layer):
    """A numeric table column with missing cells (NaN, and 0 when ``zero_is_missing``) filled with ``value``.

    ``value`` is the training split's median (or mean, or 0: ``dataset.impute``), so a model
    fills a missing cell the same way at training, predict, serve and in its exports.
    With ``indicator``, a second output column is 1 where the cell was missing, else 0.
    """

    def __init__(self, value: float = 0.0, zero_is_missing: bool = False, indicator: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.value = float(value)
        self.zero_is_missing = bool(zero_is_missing)
        self.indicator = bool(indicator)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        missing = ops.isnan(x)
        # NaN first, on its own: tf2onnx turns a select on a combined condition into arithmetic,
        # where NaN * 0 stays NaN (the .onnx export then answered NaN for a missing cell).
        filled = ops.where(missing, ops.full_like(x, self.value), x)
        if self.zero_is_missing:
            zero = ops.equal(filled, 0.0)
            filled = ops.where(zero, ops.full_like(x, self.value), filled)
            missing = ops.logical_or(missing, zero)
        if not self.indicator:
            return filled
        return ops.concatenate([filled, ops.cast(missing, "float32")], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + ((2,) if self.indicator else (1,))

    def get_config(self):
        config = super().get_config()
        config.update(value=self.value, zero_is_missing=self.zero_is_missing, indicator=self.indicator)
        return config


@keras.saving.register_keras_serializable(package="aimodel")
class StandardizedError(keras.losses.Loss):
    """task: regression: the mse, mae or huber loss of errors measured in training standard deviations.

    The model answers in the target's own unit (its last layer undoes the standardization, see
    :func:`aimodel.models.factory.build_model`); dividing the error by each target's training standard
    deviation gives the loss of a model trained on standardized targets, so a price in dollars and a
    rate in percent train alike, and several targets weigh the same. ``delta``: huber's, in standard
    deviations.
    """

    def __init__(self, kind="mse", scale=(1.0,), delta=1.0, name=None, reduction="sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name or f"standardized_{kind}", reduction=reduction, dtype=dtype)
        if kind not in ("mse", "mae", "huber"):
            raise ValueError(f"kind must be mse, mae or huber, got {kind!r}")
        self.kind = kind
        self.scale = [float(s) for s in scale]
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        error = ops.abs((y_true - y_pred) / ops.convert_to_tensor(self.scale, dtype=y_pred.dtype))
        if self.kind == "mse":
            per = ops.square(error)
        elif self.kind == "mae":
            per = error
        else:
            per = ops.where(error <= self.delta, 0.5 * ops.square(error), self.delta * (error - 0.5 * self.delta))
        return ops.mean(per, axis=-1)

    def get_config(self):
        return {"kind": self.kind, "scale": list(self.scale), "delta": self.delta, "name": self.name,
                "reduction": self.reduction}


@keras.saving.register_keras_serializable(package="aimodel")
class SubtractLast(layers.Layer):
    """Forecasting with ``dataset.anchor: last``: a window relative to its last observed target value.

    ``(batch, window, F)`` in and out: the window's last value of input column ``channel`` (the target)
    is subtracted from that column at every step; the other columns (features in their own units) pass
    unchanged. Computed in float32 (a CO2 level of 400 has a step of 0.25 in float16). With
    :class:`AddLast` after the head, a model answering 0 forecasts persistence.
    """

    def __init__(self, channel: int = 0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.channel = int(channel)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        last = x[:, -1:, self.channel:self.channel + 1]  # (batch, 1, 1)
        width = int(x.shape[-1])
        if width == 1:
            return x - last
        # A constant one-hot mask rather than a slice-and-concatenate: one multiply, plain for TFLite and ONNX.
        mask = ops.convert_to_tensor([[[1.0 if j == self.channel else 0.0 for j in range(width)]]], "float32")
        return x - last * mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(channel=self.channel)
        return config


@keras.saving.register_keras_serializable(package="aimodel")
class AddLast(layers.Layer):
    """Forecasting with ``dataset.anchor: last``: the window's last target value added back to each output.

    Takes ``[outputs (batch, horizon), window (batch, length, F)]`` (the raw model input) and returns
    ``outputs + window[:, -1, channel]``, in float32, so the model answers in the target's unit.
    """

    def __init__(self, channel: int = 0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.channel = int(channel)

    def call(self, inputs):
        outputs, window = inputs
        last = ops.cast(window[:, -1, self.channel:self.channel + 1], "float32")  # (batch, 1)
        return ops.cast(outputs, "float32") + last

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update(channel=self.channel)
        return config
