"""Numbers and tensors in, numbers and tensor JSON out."""

from __future__ import annotations

import numpy as np
import pytest

from forwardpass.codecs.numeric import NumericCodec
from forwardpass.errors import BadData, JsonPropertyTypeMismatch
from forwardpass.model.signature import Feature

SCALAR = Feature("Size", "numeric")
MATRIX = Feature("x", "numeric", (2, 2))


def test_scalars_become_one_column_in_the_tensors_dtype():
    out = NumericCodec(SCALAR, np.dtype(np.float32)).decode([1, 2.5, -3])
    assert out.dtype == np.float32 and out.tolist() == [[1.0], [2.5], [-3.0]]
    ints = NumericCodec(SCALAR, np.dtype(np.int64)).decode([1, 2.0])
    assert ints.dtype == np.int64 and ints.tolist() == [[1], [2]]


def test_the_largest_value_a_float_dtype_holds_is_taken_as_it_is():
    top = float(np.finfo(np.float32).max)
    out = NumericCodec(SCALAR, np.dtype(np.float32)).decode([top, -top, 0])
    assert out.tolist() == [[top], [-top], [0.0]]
    assert NumericCodec(SCALAR, np.dtype(np.float32)).decode([]).shape == (0, 1)


@pytest.mark.parametrize(
    ("dtype", "values", "error", "message"),
    [
        (np.float32, [1, 1e39], BadData, "row 1.*out of range for float32"),
        (np.float32, [2.0, -(10**39)], BadData, "row 1.*out of range for float32"),
        (np.float16, [65504, 70000], BadData, "row 1.*out of range for float16"),
        (np.int64, [1.5], BadData, "row 0.*whole number"),
        (np.int8, [1000], BadData, "out of range for int8"),
        (np.float32, [1, "2"], JsonPropertyTypeMismatch, "row 1.*expected a number, got a string"),
        (np.float32, [True], JsonPropertyTypeMismatch, "got a boolean"),
        (np.float32, [None], JsonPropertyTypeMismatch, "got null"),
    ],
)
def test_values_the_tensor_cannot_hold_are_refused(dtype, values, error, message):
    with pytest.raises(error, match=message):
        NumericCodec(SCALAR, np.dtype(dtype)).decode(values)


def test_tensors_in_three_forms_decode_alike():
    codec = NumericCodec(MATRIX, np.dtype(np.float32))
    out = codec.decode([{"shape": [2, 2], "data": [1, 2, 3, 4]}, [[1, 2], [3, 4]], [1, 2, 3, 4]])
    assert out.shape == (3, 4) and (out == [[1, 2, 3, 4]] * 3).all()


def test_outputs_are_numbers_or_tensor_json():
    assert NumericCodec(SCALAR, np.dtype(np.float32)).encode(np.array([[1.5], [2.0]])) == [1.5, 2.0]
    encoded = NumericCodec(MATRIX, np.dtype(np.float32)).encode(np.arange(4.0).reshape(1, 4))
    assert encoded == [{"shape": [2, 2], "data": [0.0, 1.0, 2.0, 3.0]}]


def test_form_fields_are_read_as_numbers():
    codec = NumericCodec(SCALAR, np.dtype(np.float32))
    assert codec.from_form(" 1.25 ") == 1.25
    for bad in ("x", "", "inf", "nan"):
        with pytest.raises((BadData, JsonPropertyTypeMismatch)):
            codec.from_form(bad)


def test_a_feature_declaring_missing_values_reads_null_as_nan_and_still_refuses_infinity():
    scalar = NumericCodec(Feature("Size", "numeric", missing=True), np.dtype(np.float32))
    out = scalar.decode([1, None, 2.5])
    assert out.dtype == np.float32 and np.isnan(out[1, 0]) and out[[0, 2], 0].tolist() == [1, 2.5]
    assert scalar.from_form("") is None and scalar.from_form(" nan ") is None
    with pytest.raises(BadData, match=r"row 1.*out of range"):
        scalar.decode([None, 1e39])
    with pytest.raises(BadData, match="finite"):
        scalar.from_form("inf")
    matrix = NumericCodec(Feature("x", "numeric", (2, 2), missing=True), np.dtype(np.float32))
    out = matrix.decode([None, [[1, None], [3, 4]], {"shape": [2, 2], "data": [None, 2, 3, 4]}])
    assert np.isnan(out[0]).all()
    assert np.isnan(out[1]).tolist() == [False, True, False, False]
    assert np.isnan(out[2]).tolist() == [True, False, False, False]
    # Without the declaration, null stays refused inside tensors too.
    with pytest.raises(JsonPropertyTypeMismatch, match="nested list"):
        NumericCodec(MATRIX, np.dtype(np.float32)).decode([[[1, None], [3, 4]]])
