"""Toy models for the tests, built from small data at test time; nothing is committed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from forwardpass.demos import digits as demo_image
from forwardpass.demos import tabular as demo
from forwardpass.importers import onnx as onnx_importer
from forwardpass.model import signature as sig


def demo_model(path: Path) -> Path:
    """The contract's example (Type, Sound, Size -> Weight) through the sklearn importer."""
    path.write_bytes(demo.model().SerializeToString())
    return path


def iris_classifier(path: Path) -> Path:
    """A plain skl2onnx file with ZipMap and no signature: iris, 4 floats -> 3 classes."""
    x, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    clf = LogisticRegression(max_iter=500).fit(x.astype(np.float32), names[y])
    model = convert_sklearn(clf, "iris", initial_types=[("X", FloatTensorType([None, 4]))])
    path.write_bytes(model.SerializeToString())
    return path


def iris_rows() -> list[list[float]]:
    x, _ = load_iris(return_X_y=True)
    return x[::10].astype(np.float32).tolist()


def two_outputs(path: Path) -> Path:
    """x [N,2] -> sum [N,1] and product [N,1]: a plain ONNX graph with two outputs."""
    nodes = [
        helper.make_node("ReduceSum", ["x", "axes"], ["sum"], keepdims=1),
        helper.make_node("ReduceProd", ["x", "axes"], ["product"], keepdims=1),
    ]
    graph = helper.make_graph(
        nodes,
        "two_outputs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [
            helper.make_tensor_value_info("sum", TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info("product", TensorProto.FLOAT, [None, 1]),
        ],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def tensor_model(path: Path) -> Path:
    """x [N,2,3] -> y = 2x [N,2,3]: tensor in, tensor out."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["y"])],
        "double",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2, 3])],
        initializer=[helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def slow_model(path: Path, depth: int = 40, width: int = 512) -> Path:
    """x [N,1] -> y [N,1] through `depth` square matmuls: a model that takes a while per row.

    For tests of what happens while a model is busy (queue bounds); the weights are the
    identity, so the answer is `x * width` whatever the depth.
    """
    eye = np.eye(width, dtype=np.float32)
    nodes = [helper.make_node("MatMul", ["x", "widen"], ["h0"])]
    for i in range(depth):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "eye"], [f"h{i + 1}"]))
    nodes.append(helper.make_node("ReduceSum", [f"h{depth}", "axes"], ["y"], keepdims=1))
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        initializer=[
            helper.make_tensor("widen", TensorProto.FLOAT, [1, width], np.ones(width).tolist()),
            helper.make_tensor("eye", TensorProto.FLOAT, [width, width], eye.flatten().tolist()),
            helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


ECHO_SETTINGS = sig.ImageSettings(height=6, width=8)


def image_echo(path: Path) -> Path:
    """An RGB image 6x8 [N,6,8,3] in, the same tensor out twice: as numbers and as an image."""
    dims = [None, 6, 8, 3]
    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["image"], ["pixels"]),
            helper.make_node("Identity", ["image"], ["picture"]),
        ],
        "echo",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)],
        [
            helper.make_tensor_value_info("pixels", TensorProto.FLOAT, dims),
            helper.make_tensor_value_info("picture", TensorProto.FLOAT, dims),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    shape = ECHO_SETTINGS.shape
    signature = sig.Signature(
        (sig.Feature("image", "image", shape, "image", image=ECHO_SETTINGS),),
        (
            sig.Feature("pixels", "numeric", shape, "pixels"),
            sig.Feature("picture", "image", shape, "picture", image=ECHO_SETTINGS),
        ),
    )
    path.write_bytes(onnx_importer.prepare(model, signature).SerializeToString())
    return path


def digits_classifier(path: Path) -> Path:
    """The image demo's model: 8x8 grayscale digits -> scores of "0".."9"."""
    path.write_bytes(demo_image.model().SerializeToString())
    return path


def scaled(path: Path, factor: float, width: int = 2) -> Path:
    """x [N,width] -> y = factor * x: versions that differ only in their answers."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "factor"], ["y"])],
        "scaled",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, width])],
        initializer=[helper.make_tensor("factor", TensorProto.FLOAT, [], [factor])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def external_data_model(path: Path, location: str) -> Path:
    """x [N,2] -> y = x + b, where the initializer b (two floats) is kept in external data
    at `location`, relative to the model's folder; nothing is written there."""
    b = onnx.TensorProto(name="b", data_type=TensorProto.FLOAT, dims=[2])
    b.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "8")):
        b.external_data.add(key=key, value=value)
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        "external",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        initializer=[b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def endless_loop(path: Path) -> Path:
    """x [N,1] -> y: a Loop with no trip count whose condition stays true: it never ends."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond"], ["cond_out"]),
            helper.make_node("Add", ["v", "one"], ["v_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v", TensorProto.FLOAT, [None, 1]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [None, 1]),
        ],
        initializer=[helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["", "true", "x"], ["y"], body=body)],
        "endless",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        initializer=[helper.make_tensor("true", TensorProto.BOOL, [], [True])],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


def custom_op(path: Path) -> Path:
    """x [N,1] -> y through an operator of a domain ONNX Runtime does not know."""
    graph = helper.make_graph(
        [helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example.hostile")],
        "custom",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
    )
    opsets = [helper.make_opsetid("", 18), helper.make_opsetid("com.example.hostile", 1)]
    return _save(helper.make_model(graph, opset_imports=opsets), path)


def huge_tensor(path: Path) -> Path:
    """x [N,1] -> y = x + b, where b's dims claim 2 GiB of floats that the file lacks."""
    b = onnx.TensorProto(name="b", data_type=TensorProto.FLOAT, dims=[1, 1 << 29])
    b.raw_data = b"\0" * 8
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        "huge",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1 << 29])],
        initializer=[b],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


def _save(model: onnx.ModelProto, path: Path) -> Path:
    model.ir_version = 8  # what the installed ONNX Runtime reads
    path.write_bytes(model.SerializeToString())
    return path
