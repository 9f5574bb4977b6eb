"""The Open Inference Protocol's REST endpoints, one adapter over the serving core.

The model name is the deployment's id and its versions are its model's version number; a
model's endpoints take the deployment's own token, as the rows API does. An inference
request is a `_TensorCall` to `Predictor.predict`: the same token check, rate limit, body
and row limits, model thread and batcher as a rows request (with which it may share a
batch). Errors answer the protocol's `{"error": "..."}` with the rows API's status codes.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from forwardpass import __version__
from forwardpass.batching.run import Abandoned, Columns, Outputs
from forwardpass.codecs.tensors import OutputTensor, TensorCodec
from forwardpass.errors import (
    FeatureNotFound,
    ForwardpassError,
    ResourceNotFound,
    at,
)
from forwardpass.server.body import INFERENCE_HEADER_LENGTH, Body, Headers, RequestBody, wanted
from forwardpass.server.oip import wire
from forwardpass.server.reply import Reply, ReplyResponse, error_headers, failure
from forwardpass.services.openapi_oip import PLATFORM
from forwardpass.serving.auth import authorize_header
from forwardpass.serving.predict import Predictor
from forwardpass.serving.served import Live

#: What `GET /v2` says the server speaks beyond the core protocol.
EXTENSIONS = ("binary_tensor_data", "classification")


def error_body(message: str) -> bytes:
    """The protocol's error body: the one place it is made."""
    return orjson.dumps({"error": message})


def error_reply(error: ForwardpassError) -> Reply:
    """The protocol's error body, with the error's status and headers (Retry-After, ...)."""
    return error.status, error_headers(error), error_body(error.message)


def error_response(error: ForwardpassError) -> ASGIApp:
    return ReplyResponse(error_reply(error))


def _json(content: Any) -> Response:
    return Response(orjson.dumps(content), media_type="application/json")


class OipRoutes:
    """Every endpoint of the protocol, over the served deployments and the predictor."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def routes(self) -> list[BaseRoute]:
        model = "/v2/models/{deployment_id}"
        version = model + "/versions/{version}"
        return [
            Route("/v2", self.server_metadata, methods=["GET"]),
            Route("/v2/health/live", self.live, methods=["GET"]),
            Route("/v2/health/ready", self.ready, methods=["GET"]),
            *(
                route
                for base in (model, version)
                for route in (
                    Route(base, self.model_metadata, methods=["GET"]),
                    Route(base + "/ready", self.model_ready, methods=["GET"]),
                    Route(base + "/infer", self.infer, methods=["POST"]),
                )
            ),
        ]

    async def server_metadata(self, _request: Request) -> Response:
        return _json({"name": "forwardpass", "version": __version__, "extensions": EXTENSIONS})

    async def live(self, _request: Request) -> Response:
        return _json({"live": True})

    async def ready(self, _request: Request) -> Response:
        ready = self.predictor.served.ready
        return Response(
            orjson.dumps({"ready": ready}),
            status_code=200 if ready else 503,
            media_type="application/json",
        )

    def _model(self, request: Request) -> tuple[Live, TensorCodec]:
        live = authorize_header(
            self.predictor.served,
            request.headers.get("authorization"),
            request.path_params["deployment_id"],
        )
        _check_version(live, request.path_params.get("version"))
        assert live.tensors is not None, "an enabled, loaded deployment has its codec"
        return live, live.tensors

    async def model_metadata(self, request: Request) -> ASGIApp:
        try:
            live, tensors = self._model(request)
        except ForwardpassError as exc:
            return error_response(exc)
        return _json(
            {
                "name": live.id,
                "versions": [str(live.model_version)],
                "platform": PLATFORM,
                "inputs": [t.to_dict() for t in tensors.inputs],
                "outputs": [t.to_dict() for t in tensors.outputs],
            }
        )

    async def model_ready(self, request: Request) -> ASGIApp:
        try:
            self._model(request)
        except ForwardpassError as exc:
            return error_response(exc)
        return _json({"name": request.path_params["deployment_id"], "ready": True})

    async def infer(self, request: Request) -> ASGIApp:
        """The Starlette endpoint: inference requests the fast lane does not take."""
        reply = await self.respond(
            request.path_params["deployment_id"],
            request.path_params.get("version"),
            wanted(request.scope["headers"]),
            RequestBody(request),
        )
        return ReplyResponse(reply)

    async def respond(
        self, deployment_id: str, version: str | None, found: Headers, body: Body
    ) -> Reply:
        """The whole inference request, from its headers and body to the answer or the
        protocol's error."""
        call = _TensorCall(version, found, body)
        try:
            (content, header_length), timing = await self.predictor.predict(
                deployment_id, found.get(b"authorization"), call
            )
        except Exception as exc:
            return error_reply(failure(exc))
        extra = [(b"server-timing", timing.header().encode("latin-1"))]
        if header_length is not None:
            extra += (
                (INFERENCE_HEADER_LENGTH, str(header_length).encode("latin-1")),
                (b"content-type", b"application/octet-stream"),
            )
        return 200, extra, content


def _check_version(live: Live, version: str | None) -> None:
    if version is not None and version != str(live.model_version):
        raise ResourceNotFound(
            f"model {live.id!r} has no version {version!r}; its version is {live.model_version}"
        )


class _TensorCall:
    """One inference request as `Predictor.predict` takes it: tensors in, tensors out."""

    __slots__ = ("body", "count", "found", "live", "parsed", "tensors", "version")

    def __init__(self, version: str | None, found: Headers, body: Body) -> None:
        self.version = version
        self.found = found
        self.body = body
        self.parsed: wire.InferRequest | None = None
        self.live: Live | None = None
        self.tensors: TensorCodec | None = None
        self.count = 0

    async def rows(self, live: Live) -> Columns:
        _check_version(live, self.version)
        tensors = live.tensors
        assert tensors is not None, "an enabled, loaded deployment has its codec"
        limits, found = live.limits, self.found
        try:
            body = await self.body.read(limits.max_body_bytes, found.get(b"content-length"))
        except ClientDisconnect:
            raise Abandoned() from None
        parsed = wire.parse(body, found.get(INFERENCE_HEADER_LENGTH), limits.max_rows)
        if parsed.outputs is not None:
            for output in parsed.outputs:
                if output.name not in tensors.output_names:
                    raise FeatureNotFound(
                        at(
                            None,
                            output.name,
                            "not an output of this model; the outputs are "
                            + ", ".join(repr(n) for n in tensors.output_names),
                        )
                    )
        count = tensors.count(parsed.inputs)
        self.parsed, self.live, self.tensors, self.count = parsed, live, tensors, count
        if tensors.decodes_images:
            # Before queueing, as the rows API's images, in the pixel budget's threads.
            feeds = await live.decode_images(
                functools.partial(tensors.decode, parsed.inputs, count)
            )
            return Columns(count, feeds=feeds)
        # Decoded in the model thread as its batch starts, as rows are (batching/run.py).
        return Columns(count, decode=functools.partial(tensors.decode, parsed.inputs, count))

    def gone(self) -> bool:
        return self.body.gone()

    def answer(self, rows: Any) -> tuple[bytes, int | None]:
        parsed, live, tensors = self.parsed, self.live, self.tensors
        assert parsed is not None and live is not None and tensors is not None
        outputs: Outputs = rows
        count = self.count
        answer: list[tuple[OutputTensor, bool]] = []
        if parsed.outputs is None:
            encoded = tensors.encode(outputs, count)
            answer = [(encoded[name], parsed.binary) for name in tensors.output_names]
        else:
            plain = [o.name for o in parsed.outputs if o.classification is None]
            encoded = tensors.encode(outputs, count, plain) if plain else {}
            for output in parsed.outputs:
                if output.classification is None:
                    tensor = encoded[output.name]
                else:
                    tensor = tensors.classify(outputs, count, output.name, output.classification)
                answer.append((tensor, output.binary))
        return wire.render(parsed.id, live.id, str(live.model_version), answer)
