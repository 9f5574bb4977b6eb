"""One codec per feature type, shared by the server, the spec generator and the client."""

from __future__ import annotations

import numpy as np

from forwardpass.codecs.base import Codec
from forwardpass.codecs.binary import BinaryCodec
from forwardpass.codecs.categorical import CategoricalCodec
from forwardpass.codecs.image import ImageCodec, ImageOptions
from forwardpass.codecs.numeric import NumericCodec
from forwardpass.codecs.text import TextCodec
from forwardpass.model.signature import Feature

CODECS: dict[str, type[Codec]] = {
    c.feature_type: c for c in (NumericCodec, CategoricalCodec, BinaryCodec, TextCodec, ImageCodec)
}

__all__ = [
    "CODECS",
    "BinaryCodec",
    "CategoricalCodec",
    "Codec",
    "ImageCodec",
    "ImageOptions",
    "NumericCodec",
    "TextCodec",
    "codec_for",
]


def codec_for(feature: Feature, dtype: np.dtype, images: ImageOptions | None = None) -> Codec:
    """The codec for `feature` feeding (or read from) a tensor of `dtype`.

    `images` carries a deployment's image limits and transformation to image codecs.
    """
    if feature.type == "image":
        return ImageCodec(feature, dtype, images)
    try:
        return CODECS[feature.type](feature, dtype)
    except KeyError:
        raise NotImplementedError(f"no codec for {feature.type} features yet") from None
