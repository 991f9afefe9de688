"""Dataset keys shared by several sources: image size and colour, normalization, augmentation, text."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional, Union

from pydantic import Field, field_validator

from aimodel.data.base import absolute_path
from aimodel.data.spec import DEFAULT_MAX_TOKENS, DEFAULT_SEQUENCE_LENGTH
from aimodel.section import Section


class AugmentConfig(Section):
    """Random changes to training images (Keras preprocessing layers, active only while training, seeded).

    Example::

        augment: {flip: horizontal, rotation: 0.05, zoom: 0.1, translation: 0.1, contrast: 0.2}
    """

    flip: Optional[Literal["horizontal", "vertical", "horizontal_and_vertical"]] = Field(
        None, description="Random mirror images (null = off)."
    )
    rotation: float = Field(0.0, ge=0.0, le=0.5, description="Largest rotation, as a fraction of a full turn.")
    zoom: float = Field(0.0, ge=0.0, lt=1.0, description="Largest zoom in or out, as a fraction of the size.")
    translation: float = Field(0.0, ge=0.0, lt=1.0, description="Largest shift, as a fraction of the size.")
    contrast: float = Field(0.0, ge=0.0, lt=1.0, description="Largest contrast change (0.2 = ±20%).")

    @property
    def active(self) -> bool:
        return bool(self.flip or self.rotation or self.zoom or self.translation or self.contrast)


class ImageOptions(Section):
    """Keys of every image source."""

    image_size: Optional[tuple[int, int]] = Field(
        None,
        description="[height, width] the model takes; images are resized to it. Default: the source's "
        "size (folders: the most common size among the files).",
    )
    color_mode: Literal["auto", "grayscale", "rgb"] = Field(
        "auto", description="Channels the model takes; auto keeps the source's (folders: grayscale only "
        "if every file is)."
    )
    normalize: Literal["scale", "standardize"] = Field(
        "scale",
        description="scale: pixels / 255. standardize: per-channel mean and standard deviation measured "
        "on the training split.",
    )
    augment: AugmentConfig = Field(default_factory=AugmentConfig, description="Training-time augmentation.")

    @field_validator("image_size")
    @classmethod
    def _positive(cls, v):
        if v is not None and min(v) < 1:
            raise ValueError("must be two positive numbers [height, width]")
        return v


class ImageFileOptions(Section):
    """Keys of the sources that read image files from disk (image_folder, csv with dataset.image_column)."""

    on_bad_file: Literal["error", "skip"] = Field(
        "error",
        description="A file that cannot be read: error (stop, naming it) or skip (leave it out; "
        "counted and listed in the run directory's data.json).",
    )
    cache: Optional[Union[Literal["auto", "memory", "none"], Path]] = Field(
        "auto",
        description="Keep decoded pixels instead of decoding every epoch. auto: in memory when they fit "
        "the memory budget (dataset.cache_memory_mb), else in a decoded-pixel file under "
        "$AIMODEL_CACHE_DIR or ~/.cache/aimodel/images when the disk has room, else none; memory; "
        "none (or null): decode every epoch; or a folder for decoded-pixel files (reused by later runs).",
    )
    cache_memory_mb: Optional[float] = Field(
        None, gt=0,
        description="cache: auto keeps decoded pixels in memory up to this many MB (default: a quarter of "
        "the memory available when the data is loaded).",
    )

    @field_validator("cache")
    @classmethod
    def _cache_absolute(cls, v):
        return absolute_path(v) if isinstance(v, Path) else v


class TextOptions(Section):
    """Keys of every text source (read by the model's TextVectorization)."""

    max_tokens: int = Field(DEFAULT_MAX_TOKENS, ge=3, description="Vocabulary size, learned from the training split.")
    sequence_length: int = Field(DEFAULT_SEQUENCE_LENGTH, ge=1, description="Tokens per sample (longer texts are cut, shorter padded).")


class EncodingOptions(Section):
    """Keys of the sources that read text files or CSVs (text_folder, csv)."""

    encoding: str = Field(
        "auto", description="How the files' bytes become text: auto (UTF-8 when they are UTF-8, else the "
        "encoding charset-normalizer detects, Windows-1252 when it cannot tell), or a codec: utf-8, cp1252, "
        "latin-1, utf-16, ... Saved with the model, so evaluate --data and predict read files the same way.",
    )
    encoding_errors: Literal["strict", "replace"] = Field(
        "strict", description="Bytes that are not valid in the encoding: strict (an error naming the file and "
        "line) or replace (they become U+FFFD and training goes on).",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v):
        from aimodel.data.files import check_encoding

        return check_encoding(v)


def apply_image_options(bundle, cfg) -> None:
    """Resize/convert the in-memory images of ``bundle`` as ``cfg`` (an ImageOptions) asks."""
    from aimodel.data.images import convert_images

    if cfg.image_size is None and cfg.color_mode == "auto":
        return
    for split in (bundle.train, bundle.val, bundle.test):
        if split is not None and not split.streamed:
            split.x = convert_images(split.x, cfg.image_size, cfg.color_mode)
    shape = tuple(int(d) for d in bundle.train.x.shape[1:])
    if shape != tuple(bundle.spec.shape):
        from aimodel.data.images import INK_FIELDS, describe_ink

        bundle.spec.shape = shape
        ink = describe_ink(bundle.train.x) if shape[-1] == 1 else dict.fromkeys(INK_FIELDS)
        for name, value in ink.items():
            setattr(bundle.spec, name, value)
