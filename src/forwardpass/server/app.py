"""The app factory: a Starlette app built from explicit settings and a registry."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from forwardpass import web
from forwardpass.registry import Registry
from forwardpass.server import api, logs, metrics
from forwardpass.server.cors import Cors
from forwardpass.server.drain import Drain
from forwardpass.server.errors import HANDLERS
from forwardpass.server.ledger import Ledger
from forwardpass.server.oip import OipRoutes
from forwardpass.server.openapi import OpenApiRoute
from forwardpass.server.rows.route import ForwardRoute
from forwardpass.services.admin_auth import AdminGate
from forwardpass.serving.guard import Guard
from forwardpass.serving.predict import Predictor
from forwardpass.serving.served import ServedDeployments
from forwardpass.settings import Settings

log = logging.getLogger("forwardpass.server")

#: New containers (rows, dicts) between two passes of the cyclic GC over the young ones.
YOUNG_COLLECTION = 10_000


def create_app(settings: Settings, registry: Registry | None = None) -> Starlette:
    """Build the server. The registry is opened from the settings unless one is given."""
    registry = registry or Registry.open(settings)
    registry.admin.ensure(settings.admin_token)
    registry.record_served_url(settings.base_url)
    if metrics.exposed(settings):
        log.warning(
            "GET /metrics answers anyone who reaches %s (deployment ids and their traffic); "
            "set FORWARDPASS_METRICS_TOKEN to ask for a token",
            settings.host,
        )
    registry.clean_store()
    cache = ServedDeployments(
        registry, settings, observe_batch=lambda sha: metrics.batch_observer(sha[:12])
    )
    metrics.show_provider(cache.providers[0])
    guard = Guard(settings, registry, cache)
    drain = Drain(settings.drain_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        drain.install()
        await asyncio.to_thread(cache.refresh)
        # Everything loaded so far (libraries, models) lives as long as the process: keep
        # it out of the cyclic GC, whose full passes over it took ~50 ms, a pause that
        # every request in flight waits out (it was the p99 at saturation).
        gc.collect()
        gc.freeze()
        # A young collection after every 700 new containers (the default) ran all the time
        # at 64 clients sending 100 rows each: the rows of the requests in flight kept the
        # count up, and each pass walked them again. After 10,000, most rows are freed first.
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(YOUNG_COLLECTION, older, oldest)
        refresher = asyncio.create_task(cache.keep_fresh())
        flusher = asyncio.create_task(guard.run())
        counter = asyncio.create_task(ledger.run())
        try:
            yield
        finally:
            for task in (refresher, flusher, counter):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            ledger.flush()  # before the usage is written out for the last time
            await guard.close()
            cache.close()

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        if drain.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        if not cache.ready:
            return JSONResponse({"status": "loading"}, status_code=503)
        failed = cache.failures()
        if failed:
            # Still 200: the other deployments serve; a probe should not take them down.
            return JSONResponse({"status": "degraded", "failed": failed})
        return JSONResponse({"status": "ready"})

    ledger = Ledger(guard)
    predictor = Predictor(cache, guard, ledger.add)
    forward = ForwardRoute(predictor, settings)
    oip = OipRoutes(predictor)

    async def metrics_endpoint(request: Request) -> Response:
        metrics.authorize(request, settings.metrics_token)
        ledger.flush()  # the latest requests too
        return await metrics.endpoint(request)

    cors = bool(settings.cors_origin_list)  # off by default: no middleware at all
    # Under `forwardpass serve` most predictions never reach the router: the HTTP protocol
    # answers them itself (server/lane.py). The Route takes the rest, and gives the
    # contract's 405 MethodNotAllowed to other methods.
    app = Starlette(
        routes=[
            Route("/deployment/{deployment_id}/forward", forward.handle, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route(
                "/deployment/{deployment_id}/openapi.json",
                OpenApiRoute(cache, registry, settings).handle,
                methods=["GET"],
            ),
            *oip.routes(),
            api.mount(registry, settings, cache),
            *web.routes(registry, settings, cache, predictor),
        ],
        exception_handlers=HANDLERS,
        middleware=[Middleware(Cors, origins=settings.cors_origin_list)] if cors else [],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.cache = cache
    app.state.forward = forward  # the lane's way to the prediction routes (server/lane.py)
    app.state.oip = oip
    app.state.admin_gate = AdminGate(registry, settings)
    return app


def configure_logging(settings: Settings) -> None:
    logs.configure(settings.log_level)


def app_from_env() -> Starlette:
    """The app of one worker of `forwardpass serve --workers N` (a uvicorn factory): the
    parent passes its settings down as FORWARDPASS_* variables."""
    settings = Settings.load()
    configure_logging(settings)
    return create_app(settings)
