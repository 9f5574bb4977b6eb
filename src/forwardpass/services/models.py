"""Models as the management API and the pages take them: one import path for both."""

from __future__ import annotations

from forwardpass.importers import sources
from forwardpass.model import signature as sig
from forwardpass.registry import ModelVersion, Registry


def import_model(
    registry: Registry,
    data: bytes,
    name: str,
    signature: sig.Signature | None,
    filename: str = "model.onnx",
) -> ModelVersion:
    """The one import path of the API and the pages: convert the file (an ONNX file, or a
    booster's file that needs no unpickling; a pickle never), then store it."""
    prepared = sources.import_upload(data, filename, sources.Options(signature=signature))
    return registry.add_model(prepared, name)


def signature_text(text: bytes) -> sig.Signature:
    """A signature from the bytes of a JSON or YAML file, read within bounds."""
    return sig.Signature.from_text(text)
