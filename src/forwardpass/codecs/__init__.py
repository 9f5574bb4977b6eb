"""One codec per feature type, shared by the server, the spec generator and the client."""

from __future__ import annotations

import numpy as np

from forwardpass.codecs.base import Codec
from forwardpass.codecs.binary import BinaryCodec
from forwardpass.codecs.categorical import CategoricalCodec
from forwardpass.codecs.image import ImageCodec, ImageOptions
from forwardpass.codecs.numeric import NumericCodec
from forwardpass.codecs.text import TextCodec, TextOptions
from forwardpass.codecs.tokens import TokensCodec
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
    "TextOptions",
    "TokensCodec",
    "codec_for",
]


def codec_for(
    feature: Feature,
    dtype: np.dtype,
    images: ImageOptions | None = None,
    texts: TextOptions | None = None,
) -> Codec:
    """The codec for `feature` feeding (or read from) a tensor of `dtype`.

    `images` carries a deployment's image limits and transformation to image codecs;
    `texts` the text limit and the model's tokenizers to text codecs.
    """
    if feature.type == "image":
        return ImageCodec(feature, dtype, images)
    if feature.type == "text":
        if feature.tokenizer is not None:
            return TokensCodec(feature, dtype, texts)
        return TextCodec(feature, dtype, texts)
    try:
        return CODECS[feature.type](feature, dtype)
    except KeyError:
        raise NotImplementedError(f"no codec for {feature.type} features yet") from None
