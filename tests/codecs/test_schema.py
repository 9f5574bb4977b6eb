"""Each codec's JSON Schema agrees with what the codec itself accepts and writes."""

from __future__ import annotations

import numpy as np
import pytest
from openapi_schema_validator import OAS30Validator

from forwardpass.codecs import codec_for
from forwardpass.errors import ForwardpassError
from forwardpass.model.signature import Feature

CASES = [
    (Feature("size", "numeric"), np.float32),
    (Feature("count", "numeric"), np.int64),
    (Feature("x", "numeric", shape=(2, 3)), np.float32),
    (Feature("kind", "categorical", categories=("cat", "dog")), object),
    (Feature("level", "categorical", categories=(1, 2, 3)), np.int64),
    (Feature("label", "categorical", shape=(2,), categories=("no", "yes")), np.float32),
    (Feature("flag", "binary"), np.float32),
    (Feature("note", "text"), object),
]


def valid(schema: dict, value: object) -> bool:
    return OAS30Validator(schema).is_valid(value)


@pytest.mark.parametrize(("feature", "dtype"), CASES, ids=lambda c: getattr(c, "name", ""))
def test_examples_fit_the_schemas_and_the_codec(feature, dtype):
    codec = codec_for(feature, np.dtype(dtype))
    if not (feature.type == "categorical" and feature.size > 1):  # an output-only feature
        assert valid(codec.schema(), codec.example())
        codec.decode([codec.example()])
    if feature.type == "categorical" and feature.size != len(feature.categories or ()):
        return  # an input-only feature: outputs carry a score per category
    array = np.zeros((1, feature.size), dtype=np.float32)
    encoded = codec.encode(array if feature.type != "text" else np.array([["x"]], object))
    assert valid(codec.output_schema(), encoded[0])
    assert valid(codec.output_schema(), codec.output_example())


@pytest.mark.parametrize(
    ("feature", "dtype", "value"),
    [
        (Feature("size", "numeric"), np.float32, 3.5e38),
        (Feature("size", "numeric"), np.float32, "1"),
        (Feature("x", "numeric", shape=(2, 3)), np.float32, {"shape": [3, 2], "data": [0] * 6}),
        (Feature("x", "numeric", shape=(2,)), np.float32, [True, False]),
        (Feature("kind", "categorical", categories=("cat", "dog")), object, "cow"),
        (Feature("flag", "binary"), np.float32, 2),
        (Feature("note", "text"), object, 3),
    ],
)
def test_what_the_schema_refuses_the_codec_refuses(feature, dtype, value):
    codec = codec_for(feature, np.dtype(dtype))
    assert not valid(codec.schema(), value)
    with pytest.raises(ForwardpassError):
        codec.decode([value])
