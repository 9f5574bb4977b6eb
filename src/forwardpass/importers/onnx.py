"""Import a plain ONNX file: infer its signature from the graph, or take one from a file.

Float and integer inputs become numeric features of the input's shape less the batch
dimension, string inputs text, boolean inputs binary. A classifier (an ai.onnx.ml node
carrying class labels, as skl2onnx writes) gives a categorical output over its labels; its
ZipMap, if any, is removed so that the scores stay one fast tensor. A float input read
directly by an Imputer of NaN or a tree ensemble takes missing values (`null` reaches it as
NaN); a signature file can declare them for any other float input.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from forwardpass.errors import BadData, SignatureError
from forwardpass.model import graph, signature_text
from forwardpass.model import signature as sig


def read_signature_file(path: Path) -> sig.Signature:
    """A signature from a JSON or YAML file."""
    if path.stat().st_size > signature_text.MAX_BYTES:
        raise SignatureError(f"{path.name} is larger than {signature_text.MAX_BYTES} bytes")
    try:
        return sig.Signature.from_text(path.read_bytes(), json_only=path.suffix == ".json")
    except SignatureError as exc:
        raise SignatureError(f"{path.name}: {exc.message}") from None


def infer(model: onnx.ModelProto, labels: dict[str, list[str]] | None = None) -> sig.Signature:
    """The signature the graph implies; `labels` names the class labels of ZipMap outputs."""
    inputs = []
    missing = graph.accepts_nan(model)
    for tensor in graph.inputs(model).values():
        if tensor.kind in ("float", "int"):
            if None in tensor.item_dims:
                raise SignatureError(
                    f"input {tensor.name!r} has an open dimension {list(tensor.dims)}; "
                    "give its shape in a signature file"
                )
            kind, shape = "numeric", tuple(d for d in tensor.item_dims if d) or (1,)
        elif tensor.kind == "string":
            kind, shape = "text", (1,)
        elif tensor.kind == "bool":
            kind, shape = "binary", (1,)
        else:
            raise SignatureError(f"input {tensor.name!r} is not a tensor forwardpass can feed")
        nan = tensor.name in missing and tensor.kind == "float"
        inputs.append(sig.Feature(tensor.name, kind, shape, tensor.name, missing=nan))

    labelled = dict(labels or {})
    classes = graph.classifier_labels(model)
    outs = graph.outputs(model)
    if classes and not labelled:
        scores = [t for t in outs.values() if t.kind == "float" and len(t.dims) == 2]
        if len(scores) == 1:
            labelled[scores[0].name] = classes
    outputs = []
    for tensor in outs.values():
        if tensor.name in labelled:
            names = labelled[tensor.name]
            outputs.append(
                sig.Feature(tensor.name, "categorical", (len(names),), tensor.name, tuple(names))
            )
        elif labelled and len(tensor.item_dims) <= 1 and tensor.item_size in (1, None):
            continue  # the predicted label beside the scores: the scores say it all
        elif tensor.kind in ("float", "int", "bool"):
            shape = tuple(d for d in tensor.item_dims if d) or (1,)
            outputs.append(sig.Feature(tensor.name, "numeric", shape, tensor.name))
        elif tensor.kind == "string":
            outputs.append(sig.Feature(tensor.name, "text", (1,), tensor.name))
    if not outputs:
        raise SignatureError("no output of the graph is a tensor forwardpass can answer with")
    return sig.Signature(tuple(inputs), tuple(outputs))


def prepare(model: onnx.ModelProto, signature: sig.Signature | None = None) -> onnx.ModelProto:
    """Give `model` its signature (the one given, the one it has, or an inferred one)."""
    labels = graph.strip_zipmap(model)
    chosen = signature or sig.read(model) or infer(model, labels)
    chosen = sig.complete(chosen, model)
    sig.validate(chosen, model)
    sig.write(model, chosen)
    return model


# A pickle (protocol 2 and later) starts with PROTO n; joblib's files are pickles, or zlib.
PICKLE_STARTS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"\x78\x9c", b"\x78\x01")


def _parse(data: bytes) -> onnx.ModelProto:
    if data.startswith(PICKLE_STARTS):
        raise BadData(
            "this is a pickled Python object (a .pkl or .joblib file), not an ONNX file: "
            "forwardpass never unpickles a file it is given, as unpickling runs code. In "
            "Python, where the pipeline was trained, write it as a forwardpass model with "
            "forwardpass.importers.sklearn.save(pipeline, sample_frame, 'model.onnx'), "
            "then import that file"
        )
    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # protobuf's DecodeError, or ValueError, by version
        raise BadData(f"not an ONNX file: {exc}") from None
    if not model.graph.node and not model.graph.output:
        raise BadData("not an ONNX file: it holds no graph")
    return model


def import_bytes(data: bytes, signature: sig.Signature | None = None) -> bytes:
    """A forwardpass model file from the bytes of an ONNX file (which must hold all its
    tensors: bytes have no folder to read external data from; the registry refuses them)."""
    model = _parse(data)
    return bytes(prepare(model, signature).SerializeToString())


def import_file(path: Path, signature: sig.Signature | None = None) -> bytes:
    """A forwardpass model file from an ONNX file; tensors it keeps in external data files
    are read from the file's own folder (never outside it) and stored inline."""
    model = _parse(path.read_bytes())
    for tensor in graph.external_tensors(model):
        _inline(tensor, path.parent)
    return bytes(prepare(model, signature).SerializeToString())


def _inline(tensor: onnx.TensorProto, folder: Path) -> None:
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    root = folder.resolve()
    # resolve() follows symbolic links, so a link pointing out of the folder is refused too.
    source = (root / location).resolve()
    if not location or not source.is_relative_to(root) or not source.is_file():
        raise BadData(
            f"tensor {tensor.name!r} keeps its data in {location!r}, which is not a file "
            f"inside the model's folder"
        )
    try:
        offset, length = int(info.get("offset", 0)), int(info.get("length", -1))
    except ValueError:
        raise BadData(f"tensor {tensor.name!r} has a malformed external data offset") from None
    size = source.stat().st_size
    if offset < 0 or offset > size or length < -1 or (length >= 0 and offset + length > size):
        raise BadData(f"tensor {tensor.name!r} reaches past the end of {location!r}")
    with source.open("rb") as file:
        file.seek(offset)
        tensor.raw_data = file.read(length if length >= 0 else size - offset)
    del tensor.external_data[:]
    tensor.data_location = onnx.TensorProto.DEFAULT
