"""Text to token ids without TensorFlow, exactly as a Keras ``TextVectorization`` layer does it.

TFLite and ONNX runtimes cannot run ``TextVectorization``'s string ops, so a text
model exported to those formats takes token ids, and the export ships the
layer's vocabulary and settings (in its ``.json`` beside it); :class:`Tokenizer`
applies them on the host before the runtime sees the batch. It mirrors the layer
(Keras 3.15, TensorFlow backend) step by step:

- ``aimodel`` (``aimodel.models.layers.standardize_text``, what aimodel's text models use):
  :func:`aimodel_standardize`, with Python's Unicode tables in place of TensorFlow's;
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

STANDARDIZE = (None, "lower", "strip_punctuation", "lower_and_strip_punctuation", "aimodel")

#: ``aimodel.models.layers.standardize_text``, mirrored: separators and spaces (runs become one space) ...
_SEPARATORS = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u200b")
#: ... and the ASCII symbols it strips besides punctuation (Unicode category P).
_SYMBOLS = frozenset("$+<=>^`|~")


def standardize_name(value) -> Optional[str]:
    """A ``TextVectorization`` config's ``standardize`` as one of :data:`STANDARDIZE` (or as it is)."""
    if callable(value) and getattr(value, "__name__", "") == "standardize_text" \
            and getattr(value, "__module__", "") == "aimodel.models.layers":
        return "aimodel"
    if isinstance(value, dict) and value.get("config") == "standardize_text" \
            and str(value.get("registered_name", "")).startswith("aimodel>"):
        return "aimodel"
    return value


def aimodel_standardize(text: str) -> str:
    """What ``aimodel.models.layers.standardize_text`` makes of ``text``, step by step, in Python.

    1. every run of separators and Unicode spaces (category Z) becomes one space;
    2. control and format characters (Cc, Cf) are removed;
    3. each character is lower-cased (full case mapping, as ``tf.strings.lower`` with ICU);
    4. punctuation (category P) and ``$+<=>^`|~`` are removed.
    """
    import unicodedata

    out: list[str] = []
    for ch in text:
        if ch in _SEPARATORS or unicodedata.category(ch)[0] == "Z":
            if not out or out[-1] != " ":
                out.append(" ")
        else:
            out.append(ch)
    kept = []
    for ch in out:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf"):
            continue
        for low in ch.lower():  # full case mapping, as ICU's (İ becomes i and a combining dot)
            if unicodedata.category(low)[0] != "P" and low not in _SYMBOLS:
                kept.append(low)
    return "".join(kept)


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
        self.standardize = standardize_name(self.standardize)
        self._ids = {token.encode("utf-8"): i for i, token in enumerate(self.vocabulary) if i >= 2}

    @classmethod
    def unsupported(cls, config: dict) -> Optional[str]:
        """Why a layer config cannot be mirrored on the host, or None when it can."""
        if config.get("output_mode") != "int":
            return f"output_mode '{config.get('output_mode')}' (only 'int' is mirrored)"
        if standardize_name(config.get("standardize")) not in STANDARDIZE:
            return "a custom standardize function"
        if config.get("split") != "whitespace":
            return f"split '{config.get('split')}' (only 'whitespace' is mirrored)"
        if config.get("ngrams"):
            return "ngrams"
        if not config.get("output_sequence_length"):
            return "no output_sequence_length (variable-length ids)"
        return None

    def tokens(self, text: str) -> list[bytes]:
        if self.standardize == "aimodel":
            return [t for t in _WHITESPACE.split(aimodel_standardize(text).encode("utf-8")) if t]
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
