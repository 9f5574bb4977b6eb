"""Import a PyTorch module: export it to ONNX with an open batch dimension, with a signature.

Needs the optional extra `forwardpass[torch]` (torch and onnxscript, which torch's ONNX
exporter uses). One input tensor and one output tensor::

    from forwardpass.importers import torch as importer
    from forwardpass.model.signature import ImageSettings

    settings = ImageSettings(height=32, width=32, layout="NCHW",
                             mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    model = importer.to_onnx(net, torch.zeros(2, 3, 32, 32), image=settings,
                             output_name="label", labels=["cat", "dog"])
    open("net.onnx", "wb").write(model.SerializeToString())

then `forwardpass model import net.onnx`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import onnx

from forwardpass.errors import SignatureError
from forwardpass.importers import onnx as onnx_importer
from forwardpass.model import graph
from forwardpass.model import signature as sig

try:
    import torch
except ImportError as exc:  # pragma: no cover - the extra is installed in CI
    raise ImportError("the PyTorch importer needs torch: pip install 'forwardpass[torch]'") from exc


def export(
    module: torch.nn.Module, example: torch.Tensor, input_name: str, output_name: str
) -> onnx.ModelProto:
    """The module as plain ONNX, the first dimension of its input and output left open."""
    module = module.eval()
    if example.shape[0] < 2:
        # torch.export takes a batch of 1 for a constant; two examples keep it a dimension.
        example = torch.cat([example, example])
    with warnings.catch_warnings():
        # The exporter's own deprecation notices are no concern of the caller's.
        warnings.simplefilter("ignore")
        program: Any = torch.onnx.export(
            module,
            (example,),
            input_names=[input_name],
            output_names=[output_name],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            dynamo=True,
            verbose=False,
        )
    model: onnx.ModelProto = program.model_proto
    return model


def export_program(
    program: Any, example: torch.Tensor, input_name: str, output_name: str
) -> onnx.ModelProto:
    """An exported program (torch.export, as MLflow saves one) as plain ONNX; its dynamic
    dimensions stay open."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        done: Any = torch.onnx.export(
            program,
            (example,),
            input_names=[input_name],
            output_names=[output_name],
            dynamo=True,
            verbose=False,
        )
    model: onnx.ModelProto = done.model_proto
    return model


def with_signature(
    model: onnx.ModelProto,
    example: torch.Tensor,
    input_name: str,
    output_name: str,
    labels: Sequence[str] | None = None,
) -> onnx.ModelProto:
    """The exported model with a signature of one numeric tensor in, and one out (over
    `labels`, categorical, when given)."""
    source = sig.Feature(input_name, "numeric", tuple(example.shape[1:]) or (1,), input_name)
    result = graph.outputs(model)[output_name]
    if None in result.item_dims:
        raise SignatureError(f"output {output_name!r} has an open dimension {result.dims}")
    shape = tuple(d for d in result.item_dims if d) or (1,)
    target = sig.Feature(output_name, "numeric", shape, output_name)
    if labels:
        target = sig.Feature(output_name, "categorical", shape, output_name, tuple(labels))
    return onnx_importer.prepare(model, sig.Signature((source,), (target,)))


def to_onnx(
    module: torch.nn.Module,
    example: torch.Tensor,
    *,
    input_name: str = "image",
    image: sig.ImageSettings | None = None,
    output_name: str = "output",
    labels: Sequence[str] | None = None,
    output_image: sig.ImageSettings | None = None,
) -> onnx.ModelProto:
    """A forwardpass model file from a module that maps one tensor to one tensor.

    `example` is an input batch of the right shape. `image` makes the input an image
    feature (its layout must match the module's, NCHW for most vision models); without it
    the input is a numeric tensor. The output is categorical over `labels` when given, an
    image with `output_image`, and a numeric tensor otherwise.
    """
    model = export(module, example, input_name, output_name)
    if image is not None:
        source = sig.Feature(input_name, "image", image.shape, input_name, image=image)
    else:
        source = sig.Feature(input_name, "numeric", tuple(example.shape[1:]) or (1,), input_name)
    result = graph.outputs(model)[output_name]
    if labels is not None:
        target = sig.Feature(output_name, "categorical", (len(labels),), output_name, tuple(labels))
    elif output_image is not None:
        target = sig.Feature(
            output_name, "image", output_image.shape, output_name, image=output_image
        )
    else:
        if None in result.item_dims:
            raise SignatureError(f"output {output_name!r} has an open dimension {result.dims}")
        shape = tuple(d for d in result.item_dims if d) or (1,)
        target = sig.Feature(output_name, "numeric", shape, output_name)
    return onnx_importer.prepare(model, sig.Signature((source,), (target,)))
