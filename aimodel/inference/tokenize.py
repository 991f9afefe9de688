"""Text to token ids without TensorFlow, exactly as a Keras ``TextVectorization`` layer does it.

TFLite and ONNX runtimes cannot run ``TextVectorization``'s string ops, so a text
model exported to those formats takes token ids, and the export ships the
layer's vocabulary and settings (in its ``.json`` beside it); :class:`Tokenizer`
applies them on the host before the runtime sees the batch. It mirrors the layer
(Keras 3.15, TensorFlow backend) step by step:

- ``lower``: ``tf.strings.lower`` with its default encoding lowers ASCII letters only;
- ``strip_punctuation``: removes the ASCII punctuation of Keras' regular expression;
- ``whitespace`` split: ``tf.strings.split`` splits on runs of ASCII whitespace;
- lookup: index 0 pads, 1 is out-of-vocabulary, the vocabulary follows;
- ``output_sequence_length``: cut or padded with 0 at the end.

Export checks the mirror against the layer itself on the run's test texts.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Iterable, Optional

#: The characters Keras' "strip_punctuation" removes (its regular expression, as bytes).
_PUNCTUATION = re.compile(rb'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
#: What TensorFlow's whitespace split treats as whitespace (ASCII only, like absl's ascii_isspace).
_WHITESPACE = re.compile(rb"[ \t\n\v\f\r]+")

STANDARDIZE = (None, "lower", "strip_punctuation", "lower_and_strip_punctuation")


@dataclass
class Tokenizer:
    """A ``TextVectorization`` layer's settings and vocabulary, applied without TensorFlow.

    Args:
        vocabulary: ``layer.get_vocabulary()``: ``""`` (padding) and ``"[UNK]"`` first.
        sequence_length: ids per text (``output_sequence_length``).
        standardize: one of :data:`STANDARDIZE`.
    """

    vocabulary: list[str]
    sequence_length: int
    standardize: Optional[str] = "lower_and_strip_punctuation"

    def __post_init__(self):
        self._ids = {token.encode("utf-8"): i for i, token in enumerate(self.vocabulary) if i >= 2}

    @classmethod
    def unsupported(cls, config: dict) -> Optional[str]:
        """Why a layer config cannot be mirrored on the host, or None when it can."""
        if config.get("output_mode") != "int":
            return f"output_mode '{config.get('output_mode')}' (only 'int' is mirrored)"
        if config.get("standardize") not in STANDARDIZE:
            return "a custom standardize function"
        if config.get("split") != "whitespace":
            return f"split '{config.get('split')}' (only 'whitespace' is mirrored)"
        if config.get("ngrams"):
            return "ngrams"
        if not config.get("output_sequence_length"):
            return "no output_sequence_length (variable-length ids)"
        return None

    def tokens(self, text: str) -> list[bytes]:
        data = text.encode("utf-8")
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            data = data.lower()  # bytes.lower() changes ASCII letters only, as tf.strings.lower does
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            data = _PUNCTUATION.sub(b"", data)
        return [t for t in _WHITESPACE.split(data) if t]

    def ids(self, texts: Iterable[str]):
        """int64 ``(N, sequence_length)`` token ids for ``texts``."""
        import numpy as np

        texts = list(texts)
        out = np.zeros((len(texts), self.sequence_length), np.int64)
        for row, text in enumerate(texts):
            ids = [self._ids.get(t, 1) for t in self.tokens(str(text))][: self.sequence_length]
            out[row, : len(ids)] = ids
        return out

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Tokenizer":
        return cls(vocabulary=list(data["vocabulary"]), sequence_length=int(data["sequence_length"]),
                   standardize=data.get("standardize"))
