"""Categories in (strings or integers), label-to-score objects out."""

from __future__ import annotations

import numpy as np
import pytest

from forwardpass.codecs.categorical import CategoricalCodec
from forwardpass.errors import BadData, JsonPropertyTypeMismatch
from forwardpass.model.signature import Feature

TEXT = Feature("Sound", "categorical", categories=("miaow", "woof", "3"))
NUMBERS = Feature("Size", "categorical", categories=(1, 2, 3))


def test_strings_and_integers_name_the_same_category():
    out = CategoricalCodec(TEXT, np.dtype(object)).decode(["woof", 3, "3"])
    assert out.tolist() == [["woof"], ["3"], ["3"]]
    ints = CategoricalCodec(NUMBERS, np.dtype(np.int64)).decode([1, "2"])
    assert ints.dtype == np.int64 and ints.tolist() == [[1], [2]]


def test_a_category_of_other_digits_is_a_string_only():
    feature = Feature("unit", "categorical", categories=("m²", "²", "3"))
    codec = CategoricalCodec(feature, np.dtype(object))
    assert codec.decode(["²", 3]).tolist() == [["²"], ["3"]]


def test_utf8_bytes_are_the_categories_they_spell_or_left_to_decode():
    """Binary tensors bring categories as UTF-8 bytes: the known ones decode as their text
    would; anything else is left to `decode`, which says what is wrong."""
    feature = Feature("unit", "categorical", categories=("m²", "woof"))
    codec = CategoricalCodec(feature, np.dtype(object))
    out = codec.decode_utf8(["m²".encode(), b"woof"])
    assert out is not None
    assert out.tolist() == codec.decode(["m²", "woof"]).tolist() == [["m²"], ["woof"]]
    assert codec.decode_utf8([b"woof", b"roar"]) is None
    assert codec.decode_utf8(["woof"]) is None  # text is `decode`'s
    assert CategoricalCodec(NUMBERS, np.dtype(np.int64)).decode_utf8([b"1"]) is None


def test_an_unknown_category_names_the_allowed_ones():
    with pytest.raises(
        BadData,
        match=r"row 1, feature 'Sound': unknown category 'roar'; "
        r"allowed: 'miaow', 'woof', '3'",
    ):
        CategoricalCodec(TEXT, np.dtype(object)).decode(["woof", "roar"])


def test_a_long_list_of_categories_is_shortened_in_messages():
    many = Feature("c", "categorical", categories=tuple(f"c{i}" for i in range(40)))
    with pytest.raises(BadData, match="and 28 more"):
        CategoricalCodec(many, np.dtype(object)).decode(["nope"])


def test_unknowns_pass_where_the_model_accepts_them():
    lenient = Feature("Sound", "categorical", categories=("miaow",), allow_unknown=True)
    assert CategoricalCodec(lenient, np.dtype(object)).decode(["roar", 7]).tolist() == [
        ["roar"],
        ["7"],
    ]


@pytest.mark.parametrize("value", [True, 1.5, None, ["woof"], {"a": 1}])
def test_other_json_types_are_a_mismatch(value):
    with pytest.raises(JsonPropertyTypeMismatch, match="row 0"):
        CategoricalCodec(TEXT, np.dtype(object)).decode([value])


def test_a_bad_value_among_known_ones_is_named_by_its_row():
    codec = CategoricalCodec(TEXT, np.dtype(object))
    assert codec.decode(["woof", "miaow"]).tolist() == [["woof"], ["miaow"]]
    for bad in (["woof"], True, 3.0):
        with pytest.raises(JsonPropertyTypeMismatch, match="row 2"):
            codec.decode(["woof", "miaow", bad])


def test_outputs_map_every_label_to_its_score():
    out = Feature("Animal", "categorical", (2,), categories=("cat", "dog"))
    encoded = CategoricalCodec(out, np.dtype(np.float32)).encode(np.array([[0.25, 0.75]]))
    assert encoded == [{"cat": 0.25, "dog": 0.75}]
