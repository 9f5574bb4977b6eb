"""Image settings in the signature: parsed, written back, and checked against the graph."""

from __future__ import annotations

import pytest
from onnx import TensorProto, helper

from forwardpass.errors import SignatureError
from forwardpass.model import signature as sig


def graph_with_input(dims: list[int | None]) -> object:
    g = helper.make_graph(
        [helper.make_node("ReduceMax", ["x"], ["y"], keepdims=0)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


def signature(image: dict[str, object]) -> sig.Signature:
    return sig.Signature.from_dict(
        {
            "inputs": [{"name": "photo", "type": "image", "tensor": "x", "image": image}],
            "outputs": [{"name": "y", "type": "numeric", "tensor": "y", "shape": [1]}],
        }
    )


def test_settings_round_trip_and_give_the_shape() -> None:
    s = signature({"height": 4, "width": 5, "mode": "L", "layout": "NCHW", "mean": 0.5, "std": 2})
    feature = s.inputs[0]
    assert feature.shape == (4, 5, 1)
    assert feature.image == sig.ImageSettings(4, 5, "L", "NCHW", "unit", (0.5,), (2.0,))
    assert sig.Signature.from_json(s.to_json()) == s


def test_an_image_without_settings_takes_them_from_its_shape() -> None:
    s = sig.Signature.from_dict(
        {"inputs": [{"name": "p", "type": "image", "shape": [3, 2, 3]}], "outputs": [{"name": "y"}]}
    )
    assert s.inputs[0].image == sig.ImageSettings(height=3, width=2)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ({"height": 4}, "width must be a positive integer"),
        ({"height": 4, "width": 4, "mode": "CMYK"}, "mode must be one of"),
        ({"height": 4, "width": 4, "layout": "HWC"}, "layout must be one of"),
        ({"height": 4, "width": 4, "std": [1, 0, 1]}, "std must not be 0"),
        ({"height": 4, "width": 4, "mean": [1, 2]}, "mean must be 3"),
        ({"height": 4, "width": 4, "transformation": "zoom"}, "transformation must be one of"),
        ({"height": 4, "width": 4, "colour": "red"}, "unknown image settings"),
    ],
)
def test_bad_settings_are_named(image: dict[str, object], message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        signature(image)


def test_the_layout_must_match_the_graph() -> None:
    nchw = signature({"height": 4, "width": 5, "layout": "NCHW"})
    sig.validate(nchw, graph_with_input([None, 3, 4, 5]))  # type: ignore[arg-type]
    with pytest.raises(SignatureError, match="NHWC image of \\[4, 5, 3\\]"):
        sig.validate(signature({"height": 4, "width": 5}), graph_with_input([None, 3, 4, 5]))  # type: ignore[arg-type]


def test_an_integer_tensor_takes_raw_pixels() -> None:
    g = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [None, 4, 5, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4, 5, 3])],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    out = {"name": "y", "type": "numeric", "tensor": "y", "shape": [4, 5, 3]}
    raw = sig.Signature.from_dict(
        {
            "inputs": [
                {
                    "name": "p",
                    "type": "image",
                    "tensor": "x",
                    "image": {"height": 4, "width": 5, "scale": "raw"},
                }
            ],
            "outputs": [out],
        }
    )
    sig.validate(raw, model)
    unit = sig.Signature.from_dict(
        {
            "inputs": [{"name": "p", "type": "image", "tensor": "x", "shape": [4, 5, 3]}],
            "outputs": [out],
        }
    )
    with pytest.raises(SignatureError, match="use scale 'raw'"):
        sig.validate(unit, model)
