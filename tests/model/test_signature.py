"""Signatures: stored inside the ONNX file, read back the same."""

from __future__ import annotations

import onnx
import pytest

from forwardpass.errors import SignatureError
from forwardpass.model import signature as sig


def test_a_signature_survives_the_onnx_file(model_files):
    model = onnx.load(str(model_files["two"]))
    written = sig.Signature(
        (sig.Feature("a", "numeric", tensor="x"), sig.Feature("b", "numeric", tensor="x")),
        (sig.Feature("total", "numeric", tensor="sum"),),
    )
    sig.validate(written, model)
    sig.write(model, written)
    sig.write(model, written)  # writing again replaces, never duplicates
    again = onnx.load_from_string(model.SerializeToString())
    assert sig.read(again) == written
    assert sum(p.key == sig.METADATA_KEY for p in again.metadata_props) == 1


def test_a_model_without_one_reads_none(model_files):
    assert sig.read(onnx.load(str(model_files["two"]))) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be an object"),
        ({"inputs": [{"type": "numeric"}], "outputs": [{"name": "y"}]}, "non-empty string 'name'"),
        ({"inputs": [{"name": "x", "shape": [0]}], "outputs": [{"name": "y"}]}, "positive"),
        (
            {"inputs": [{"name": "x", "type": "categorical"}], "outputs": [{"name": "y"}]},
            "needs 'categories'",
        ),
        (
            {"inputs": [{"name": "x", "categories": ["a", 1]}], "outputs": [{"name": "y"}]},
            "all strings or all integers",
        ),
        (
            {
                "inputs": [{"name": "x", "type": "text", "missing": True}],
                "outputs": [{"name": "y"}],
            },
            "only numeric features take missing values",
        ),
        (
            {"inputs": [{"name": "x", "missing": "yes"}], "outputs": [{"name": "y"}]},
            "missing must be true or false",
        ),
    ],
)
def test_malformed_signatures_say_what_is_wrong(data, message):
    with pytest.raises(SignatureError, match=message):
        sig.Signature.from_dict(data)


def test_every_graph_input_must_be_fed(model_files):
    model = onnx.load(str(model_files["two"]))
    missing = sig.Signature((), (sig.Feature("sum", "numeric", tensor="sum"),))
    with pytest.raises(SignatureError, match="graph input 'x' is fed by no input feature"):
        sig.validate(missing, model)


def test_missing_values_survive_the_onnx_file_and_need_a_float_input(model_files):
    model = onnx.load(str(model_files["two"]))
    written = sig.Signature(
        (
            sig.Feature("a", "numeric", tensor="x", missing=True),
            sig.Feature("b", "numeric", tensor="x"),
        ),
        (sig.Feature("total", "numeric", tensor="sum"),),
    )
    sig.validate(written, model)
    sig.write(model, written)
    again = sig.read(onnx.load_from_string(model.SerializeToString()))
    assert again == written
    assert again is not None and again.to_dict()["inputs"][0]["missing"] is True
    assert "missing" not in again.to_dict()["inputs"][1]
    # NaN is a float: an output, or an input feeding integers, cannot take it.
    output = sig.Feature("total", "numeric", (1,), "sum", missing=True)
    wrong = sig.Signature(written.inputs, (output,))
    with pytest.raises(SignatureError, match="takes missing values"):
        sig.validate(wrong, model)


def test_a_model_file_written_by_an_earlier_version_keeps_its_signature(model_files):
    # Stored models and the files people keep carry their signature under this key: it is
    # part of the file format, not a module name.
    model = onnx.load(str(model_files["demo"]))
    text = next(p.value for p in model.metadata_props if p.key == "forwardpass.signature")
    found = sig.read(model)
    assert found is not None and found.to_json() == sig.Signature.from_json(text).to_json()
