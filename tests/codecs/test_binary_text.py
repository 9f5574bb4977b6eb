"""Binary and text features."""

from __future__ import annotations

import numpy as np
import pytest

from forwardpass.codecs.binary import BinaryCodec
from forwardpass.codecs.text import TextCodec
from forwardpass.errors import BadData, JsonPropertyTypeMismatch
from forwardpass.model.signature import Feature


def test_binary_takes_zero_one_and_booleans():
    codec = BinaryCodec(Feature("b", "binary"), np.dtype(np.float32))
    assert codec.decode([0, 1, True, False, 1.0]).reshape(-1).tolist() == [0, 1, 1, 0, 1]
    with pytest.raises(BadData, match=r"row 1.*expected 0 or 1"):
        codec.decode([1, 2])
    with pytest.raises(JsonPropertyTypeMismatch):
        codec.decode(["1"])
    assert codec.from_form("true") == 1 and codec.from_form("0") == 0
    assert codec.encode(np.array([[0.8]], dtype=np.float32)) == pytest.approx([0.8])


def test_text_is_strings_both_ways():
    codec = TextCodec(Feature("t", "text"), np.dtype(object))
    assert codec.decode(["a", "b"]).tolist() == [["a"], ["b"]]
    with pytest.raises(JsonPropertyTypeMismatch, match="row 0"):
        codec.decode([1])
    assert codec.encode(np.array([[b"x"], ["y"]], dtype=object)) == ["x", "y"]
