"""The Open Inference Protocol (KServe's V2 REST API, which Triton's clients speak): every
deployment answers it beside the rows API, with its id as the model name."""

from forwardpass.server.oip.route import OipRoutes

__all__ = ["OipRoutes"]
