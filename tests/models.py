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

from forwardpass import demo


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
