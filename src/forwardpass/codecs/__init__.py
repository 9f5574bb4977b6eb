"""One codec per feature type, shared by the server, the spec generator and the client."""

from __future__ import annotations

import numpy as np

from forwardpass.codecs.base import Codec
from forwardpass.codecs.binary import BinaryCodec
from forwardpass.codecs.categorical import CategoricalCodec
from forwardpass.codecs.numeric import NumericCodec
from forwardpass.codecs.text import TextCodec
from forwardpass.signature import Feature

CODECS: dict[str, type[Codec]] = {
    c.feature_type: c for c in (NumericCodec, CategoricalCodec, BinaryCodec, TextCodec)
}

__all__ = ["CODECS", "Codec", "codec_for"]


def codec_for(feature: Feature, dtype: np.dtype) -> Codec:
    """The codec for `feature` feeding (or read from) a tensor of `dtype`."""
    try:
        return CODECS[feature.type](feature, dtype)
    except KeyError:
        raise NotImplementedError(f"no codec for {feature.type} features yet") from None
