"""The deployment view: server-rendered pages over the same service layer as the API."""

from __future__ import annotations

from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from forwardpass.registry import Registry
from forwardpass.serving.predict import Predictor
from forwardpass.serving.served import ServedDeployments
from forwardpass.settings import Settings
from forwardpass.web.deployments import DeploymentPages
from forwardpass.web.login import LoginPages
from forwardpass.web.models import ModelPages
from forwardpass.web.pages import HERE

__all__ = ["routes"]


def routes(
    registry: Registry, settings: Settings, cache: ServedDeployments, predictor: Predictor
) -> list[BaseRoute]:
    login = LoginPages(registry, settings, cache)
    d = DeploymentPages(registry, settings, cache, predictor)
    m = ModelPages(registry, settings, cache)

    async def home(_request: object) -> Response:
        return RedirectResponse("/deployments", status_code=303)

    async def favicon(_request: object) -> Response:
        # Browsers ask for /favicon.ico whatever the page says; they all draw an SVG one.
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    post = ["POST"]
    return [
        Route("/", home),
        Route("/favicon.ico", favicon),
        Route("/login", login.guard(login.show, login=False)),
        Route("/login", login.guard(login.login, login=False), methods=post),
        Route("/logout", login.guard(login.logout, login=False), methods=post),
        Route("/deployments", d.guard(d.index)),
        Route("/deployments", d.guard(d.create), methods=post),
        Route("/deployments/{id}", d.guard(d.show)),
        Route("/deployments/{id}/status", d.guard(d.status), methods=post),
        Route("/deployments/{id}/rename", d.guard(d.rename), methods=post),
        Route("/deployments/{id}/names", d.guard(d.names), methods=post),
        Route("/deployments/{id}/model", d.guard(d.switch), methods=post),
        Route("/deployments/{id}/limits", d.guard(d.limits), methods=post),
        Route("/deployments/{id}/token", d.guard(d.rotate), methods=post),
        Route("/deployments/{id}/delete", d.guard(d.delete), methods=post),
        Route("/deployments/{id}/try", d.guard(d.try_it), methods=post),
        Route("/models", m.guard(m.index)),
        Route("/models", m.guard(m.upload), methods=post),
        Route("/models/{name}/{version:int}", m.guard(m.show)),
        Route("/models/{name}/{version:int}/model.onnx", m.guard(m.download)),
        Route("/models/{name}/{version:int}/delete", m.guard(m.delete), methods=post),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
