"""A tokenized text input's signature: what it says, and what it must fit."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from forwardpass.errors import SignatureError
from forwardpass.model import signature as sig

TOKENS = {"input_ids": "ids", "attention_mask": "mask"}


def graph(with_tokenizer: bool = True, mask_kind: int = TensorProto.INT64) -> onnx.ModelProto:
    """Sums the ids and the mask of each row: a stand-in for a transformer's two inputs."""
    g = helper.make_graph(
        [
            helper.make_node("Cast", ["mask"], ["mask64"], to=TensorProto.INT64),
            helper.make_node("Add", ["ids", "mask64"], ["both"]),
            helper.make_node("ReduceSum", ["both", "axes"], ["sum"], keepdims=1),
        ],
        "tokens",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, [None, None]),
            helper.make_tensor_value_info("mask", mask_kind, [None, None]),
        ],
        [helper.make_tensor_value_info("sum", TensorProto.INT64, [None, 1])],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    if with_tokenizer:
        entry = model.metadata_props.add()
        entry.key, entry.value = sig.TOKENIZER_KEY, "{}"
    return model


def signature(tensors: dict[str, str] = TOKENS) -> sig.Signature:
    return sig.Signature.from_dict(
        {
            "inputs": [
                {"name": "text", "type": "text", "tokenizer": {"max_length": 8, "tensors": tensors}}
            ],
            "outputs": [{"name": "sum", "type": "numeric"}],
        }
    )


def test_a_tokenized_text_maps_to_its_ids_and_round_trips() -> None:
    found = signature()
    text = found.inputs[0]
    assert text.tensor == "ids"
    assert text.tokenizer == sig.TokenizerSettings(max_length=8, tensors=TOKENS)
    assert sig.Signature.from_json(found.to_json()).inputs == found.inputs
    model = graph()
    sig.validate(sig.complete(found, model), model)  # fits: both graph inputs are fed
    assert sig.tokenizers(model, found) == {sig.TOKENIZER_KEY: "{}"}


@pytest.mark.parametrize(
    ("model", "tensors", "problem"),
    [
        (graph(with_tokenizer=False), TOKENS, "carries no tokenizer"),
        (graph(mask_kind=TensorProto.FLOAT), TOKENS, "must hold integers"),
        (graph(), {"input_ids": "ids"}, "graph input 'mask' is fed by no input feature"),
        (graph(), {**TOKENS, "token_type_ids": "types"}, "'types', which the graph"),
    ],
)
def test_a_tokenized_text_that_does_not_fit_is_refused(
    model: onnx.ModelProto, tensors: dict[str, str], problem: str
) -> None:
    with pytest.raises(SignatureError, match=problem):
        sig.validate(sig.complete(signature(tensors), model), model)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"max_length": 0, "tensors": TOKENS}, "max_length must be an integer >= 1"),
        ({"max_length": 8, "tensors": {"attention_mask": "m"}}, "must map input_ids"),
        ({"max_length": 8, "tensors": TOKENS, "lower": True}, "unknown tokenizer settings"),
    ],
)
def test_bad_tokenizer_settings_are_named(settings: dict[str, object], problem: str) -> None:
    data = {
        "inputs": [{"name": "t", "type": "text", "tokenizer": settings}],
        "outputs": [{"name": "o"}],
    }
    with pytest.raises(SignatureError, match=problem):
        sig.Signature.from_dict(data)
