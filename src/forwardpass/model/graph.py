"""What an ONNX graph tells about itself: its tensors, their types and shapes, class labels.

The importers infer signatures from this, and the signature is validated against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from forwardpass.errors import BadData

#: ONNX element types by the kind of value they hold.
_KINDS: dict[int, str] = {
    TensorProto.FLOAT: "float",
    TensorProto.DOUBLE: "float",
    TensorProto.FLOAT16: "float",
    TensorProto.BFLOAT16: "float",
    TensorProto.INT8: "int",
    TensorProto.INT16: "int",
    TensorProto.INT32: "int",
    TensorProto.INT64: "int",
    TensorProto.UINT8: "int",
    TensorProto.UINT16: "int",
    TensorProto.UINT32: "int",
    TensorProto.UINT64: "int",
    TensorProto.BOOL: "bool",
    TensorProto.STRING: "string",
}


@dataclass(frozen=True)
class Tensor:
    """One graph input or output: its name, element kind, numpy dtype and dimensions.

    A dimension is None where the graph leaves it open (the batch dimension, usually).
    """

    name: str
    kind: str  # float | int | bool | string | other
    dtype: np.dtype
    dims: tuple[int | None, ...]

    @property
    def item_dims(self) -> tuple[int | None, ...]:
        """The dimensions of one example: all but the leading batch dimension."""
        return self.dims[1:]

    @property
    def item_size(self) -> int | None:
        """Values per example, or None when an example dimension is open."""
        size = 1
        for d in self.item_dims:
            if d is None:
                return None
            size *= d
        return size


def _tensor(value: onnx.ValueInfoProto) -> Tensor | None:
    kind_of = value.type.WhichOneof("value")
    if kind_of != "tensor_type":
        return None
    tt = value.type.tensor_type
    elem = tt.elem_type
    dims: tuple[int | None, ...] = ()
    if tt.HasField("shape"):
        dims = tuple(
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in tt.shape.dim
        )
    kind = _KINDS.get(elem, "other")
    dtype = np.dtype(object) if kind == "string" else helper.tensor_dtype_to_np_dtype(elem)
    return Tensor(value.name, kind, dtype, dims)


def inputs(model: onnx.ModelProto) -> dict[str, Tensor]:
    """The inputs a caller must feed (initializers listed as inputs are left out)."""
    initializers = {i.name for i in model.graph.initializer}
    found: dict[str, Tensor] = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = _tensor(value)
        found[value.name] = tensor or Tensor(value.name, "other", np.dtype(object), ())
    return found


def outputs(model: onnx.ModelProto) -> dict[str, Tensor]:
    found: dict[str, Tensor] = {}
    for value in model.graph.output:
        tensor = _tensor(value)
        found[value.name] = tensor or Tensor(value.name, "other", np.dtype(object), ())
    return found


_LABEL_ATTRIBUTES = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")


def class_labels(node: onnx.NodeProto) -> list[str] | None:
    """The class labels an ai.onnx.ml classifier or ZipMap node carries, as strings."""
    for attribute in node.attribute:
        if attribute.name in _LABEL_ATTRIBUTES:
            value = helper.get_attribute_value(attribute)
            if value:
                return [v.decode() if isinstance(v, bytes) else str(v) for v in value]
    return None


def strip_zipmap(model: onnx.ModelProto) -> dict[str, list[str]]:
    """Remove ZipMap nodes feeding graph outputs, in place; the probabilities stay a tensor.

    ZipMap turns a probability matrix into a list of dicts, several times slower to run and
    to encode than the matrix. Returns {output name: class labels} for each output rewritten.
    """
    graph = model.graph
    rewritten: dict[str, list[str]] = {}
    output_names = {o.name for o in graph.output}
    for node in list(graph.node):
        if node.op_type != "ZipMap" or node.output[0] not in output_names:
            continue
        labels = class_labels(node) or []
        source, target = node.input[0], node.output[0]
        graph.node.remove(node)
        # Keep the output's name so that callers and signatures see the same tensor name.
        for other in graph.node:
            for i, name in enumerate(other.output):
                if name == source:
                    other.output[i] = target
            for i, name in enumerate(other.input):
                if name == source:
                    other.input[i] = target
        for i, out in enumerate(graph.output):
            if out.name == target:
                graph.output.remove(out)
                graph.output.insert(
                    i,
                    helper.make_tensor_value_info(
                        target, TensorProto.FLOAT, [None, len(labels) or None]
                    ),
                )
                break
        rewritten[target] = labels
    return rewritten


def classifier_labels(model: onnx.ModelProto) -> list[str] | None:
    """The labels of the classifier in the graph, if there is exactly one labelled node."""
    found = [labels for node in model.graph.node if (labels := class_labels(node))]
    return found[0] if len(found) == 1 else None


#: ai.onnx.ml nodes whose trees send NaN down a branch of their own
#: (`nodes_missing_value_tracks_true`), so a NaN input is an answer, not an accident.
_ROUTES_NAN = frozenset({"TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"})


def _imputes_nan(node: onnx.NodeProto) -> bool:
    """An ai.onnx.ml Imputer that replaces NaN (its `replaced_value_float` defaults to 0)."""
    for attribute in node.attribute:
        if attribute.name == "replaced_value_float":
            return math.isnan(helper.get_attribute_value(attribute))
    return False


def accepts_nan(model: onnx.ModelProto) -> set[str]:
    """The graph inputs read directly by a node made for NaN: an Imputer of NaN or a tree
    ensemble. Only direct readers count: past any other node, a NaN could go anywhere."""
    found: set[str] = set()
    for node in model.graph.node:
        if node.domain != "ai.onnx.ml":
            continue
        if node.op_type in _ROUTES_NAN or (node.op_type == "Imputer" and _imputes_nan(node)):
            found.update(node.input)
    return found & set(inputs(model))


def _tensors_in(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _tensors_of_node(node)


def _tensors_of_node(node: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
    for attribute in node.attribute:
        if attribute.HasField("t"):
            yield attribute.t
        yield from attribute.tensors
        for sparse in [attribute.sparse_tensor, *attribute.sparse_tensors]:
            yield sparse.values
            yield sparse.indices
        if attribute.HasField("g"):
            yield from _tensors_in(attribute.g)
        for sub in attribute.graphs:
            yield from _tensors_in(sub)


def all_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor the model holds: initializers, attribute tensors, in every subgraph and
    function."""
    yield from _tensors_in(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _tensors_of_node(node)


def is_external(tensor: onnx.TensorProto) -> bool:
    """Whether ONNX Runtime would read this tensor's bytes from a file beside the model."""
    return tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data) > 0


def external_tensors(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    """The tensors whose bytes live outside the model file.

    A model loaded from bytes resolves such a file relative to the process's working
    directory, so a stored model must have none: it could read any file the server can.
    """
    return [tensor for tensor in all_tensors(model) if is_external(tensor)]


def require_self_contained(model: onnx.ModelProto) -> None:
    """Refuse a model that keeps tensors in other files (BadData naming them)."""
    found = external_tensors(model)
    if found:
        names = ", ".join(repr(t.name) for t in found[:5])
        raise BadData(
            f"the model keeps {len(found)} tensor(s) in external data files ({names}); "
            "a model must be one self-contained ONNX file: import it from its file with "
            "`forwardpass model import`, which inlines external data from the file's folder"
        )
