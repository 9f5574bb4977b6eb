"""The deployment pages: the list, the deployment view, and their forms."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from forwardpass.batching.run import Rows
from forwardpass.errors import BadData, DeploymentNotEnabled, ForwardpassError
from forwardpass.registry import Deployment, Registry
from forwardpass.registry.usage import WINDOWS
from forwardpass.services import descriptions as describe
from forwardpass.services.changes import apply_changes
from forwardpass.services.usage import usage_series
from forwardpass.serving.predict import ADMIN, Predictor
from forwardpass.serving.served import Live, ServedDeployments
from forwardpass.settings import Settings
from forwardpass.web.charts import usage_charts
from forwardpass.web.pages import Pages
from forwardpass.web.session import Session


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


class DeploymentPages(Pages):
    def __init__(
        self,
        registry: Registry,
        settings: Settings,
        cache: ServedDeployments,
        predictor: Predictor,
    ) -> None:
        super().__init__(registry, settings, cache)
        self.predictor = predictor

    # -- the list --------------------------------------------------------------------------

    async def index(self, request: Request, session: Session) -> Response:
        return await self._index(request, session)

    async def _index(
        self, request: Request, session: Session, error: str | None = None, status: int = 200
    ) -> Response:
        found, models = await run_in_threadpool(
            lambda: (self.registry.deployments(), self.registry.models())
        )
        context = {"deployments": found, "models": models, "error": error}
        return self.render(request, session, "deployments.html", context, status)

    async def create(self, request: Request, session: Session) -> Response:
        form = await self.form(request, session)
        try:
            deployment, token = await run_in_threadpool(
                lambda: self.registry.create_deployment(
                    _text(form, "model"),
                    _text(form, "name") or None,
                    created_by="admin (web)",
                    enabled=form.get("enabled") == "on",
                )
            )
        except ForwardpassError as exc:
            return await self._index(request, session, exc.message, exc.status)
        await asyncio.to_thread(self.cache.refresh)
        notice = f"Deployment {deployment.name!r} created ({deployment.status})."
        return self.back(f"/deployments/{deployment.id}", session, notice, token)

    # -- one deployment --------------------------------------------------------------------

    async def show(self, request: Request, session: Session) -> Response:
        return await self._view(request, session, request.path_params["id"])

    async def _view(
        self,
        request: Request,
        session: Session,
        deployment_id: str,
        *,
        status: int = 200,
        **extra: Any,
    ) -> Response:
        deployment = await run_in_threadpool(self.registry.deployment, deployment_id)
        context = await run_in_threadpool(self._context, deployment)
        context["answer_example"] = await self._answer(deployment, context["example_row"])
        context["load_error"] = self.cache.failures().get(deployment.id)
        window = request.query_params.get("usage", "day")
        series = await run_in_threadpool(
            usage_series, self.registry, deployment.id, window if window in WINDOWS else "day"
        )
        context["usage_series"] = series
        context["usage_charts"] = usage_charts(series)
        images = tuple(f.api_name for f in context["inputs"] if f.feature.type == "image")
        context["examples"] = describe.examples(
            context["d"]["url"],
            context["example_row"],
            context["answer_example"],
            await run_in_threadpool(describe.interface, self.registry, deployment),
            images,
        )
        context.update(extra)
        return self.render(request, session, "deployment.html", context, status)

    def _context(self, deployment: Deployment) -> dict[str, Any]:
        face = describe.interface(self.registry, deployment)
        versions = [m for m in self.registry.models() if m.name == deployment.model.name]
        data = describe.deployment_data(self.registry, self.settings, deployment)
        return {
            "deployment": deployment,
            "d": data,
            "inputs": face.inputs,
            "example_row": describe.example_row(face),
            "placeholder": describe.placeholder_answer(face),
            "versions": versions,
            "usage": data["usage"],
        }

    async def _answer(self, deployment: Deployment, row: dict[str, Any]) -> Any:
        """A real answer of the model to the example row, when it is being served."""
        live = self.cache.get(deployment.id)
        if deployment.enabled and (live is None or live.revision != deployment.revision):
            await asyncio.to_thread(self.cache.refresh)  # just created or changed
            live = self.cache.get(deployment.id)
        if live is not None and live.enabled and live.revision == deployment.revision:
            try:
                return (await live.predict([row]))[0]
            except ForwardpassError:
                pass
        return await run_in_threadpool(
            lambda: describe.placeholder_answer(describe.interface(self.registry, deployment))
        )

    async def _act(
        self,
        request: Request,
        session: Session,
        change: Callable[[FormData], dict[str, Any]],
        notice: Callable[[Deployment], str],
        form: FormData | None = None,
    ) -> Response:
        if form is None:
            form = await self.form(request, session)
        deployment_id = request.path_params["id"]
        try:
            changed = await run_in_threadpool(
                apply_changes, self.registry, deployment_id, change(form)
            )
        except ForwardpassError as exc:
            return await self._view(
                request, session, deployment_id, status=exc.status, error=exc.message
            )
        await asyncio.to_thread(self.cache.refresh)
        back = _safe_back(form, f"/deployments/{deployment_id}")
        return self.back(back, session, notice(changed))

    async def status(self, request: Request, session: Session) -> Response:
        form = await self.form(request, session)
        enable = form.get("enabled") == "1"
        if not enable:
            deployment = await run_in_threadpool(
                self.registry.deployment, request.path_params["id"]
            )
            asked = self.confirm(
                request,
                session,
                form,
                f"Disable {deployment.name!r}? Its callers get 403 DeploymentNotEnabled "
                "until it is enabled again.",
                "Disable",
                _safe_back(form, f"/deployments/{deployment.id}"),
            )
            if asked is not None:
                return asked
        return await self._act(
            request,
            session,
            lambda _form: {"status": "enabled" if enable else "disabled"},
            lambda d: f"Deployment {d.name!r} {d.status}.",
            form,
        )

    async def rename(self, request: Request, session: Session) -> Response:
        return await self._act(
            request,
            session,
            lambda form: {"name": _text(form, "name")},
            lambda d: f"Renamed to {d.name!r}.",
        )

    async def names(self, request: Request, session: Session) -> Response:
        def api_names(form: FormData) -> dict[str, Any]:
            names: dict[str, dict[str, str]] = {"inputs": {}, "outputs": {}}
            for key, value in form.multi_items():
                side, _, feature = key.partition(":")
                if side in names and isinstance(value, str):
                    names[side][feature] = value
            return {"api_names": names}

        return await self._act(request, session, api_names, lambda _d: "API names saved.")

    async def limits(self, request: Request, session: Session) -> Response:
        def limits(form: FormData) -> dict[str, Any]:
            # A blank field means the plan's default; numbers are checked by apply_changes.
            found: dict[str, Any] = {}
            for name, kind in (
                ("max_body_bytes", int),
                ("max_rows", int),
                ("rate", float),
                ("burst", int),
                ("run_timeout", float),
            ):
                text = _text(form, name)
                try:
                    found[name] = kind(text) if text else None
                except ValueError:
                    raise BadData(f"{name} must be a number, got {text[:40]!r}") from None
            return {"limits": found}

        return await self._act(request, session, limits, lambda _d: "Limits set.")

    async def switch(self, request: Request, session: Session) -> Response:
        return await self._act(
            request,
            session,
            lambda form: {"model": _text(form, "model")},
            lambda d: f"Now serving {d.model.ref}.",
        )

    async def rotate(self, request: Request, session: Session) -> Response:
        form = await self.form(request, session)
        deployment = await run_in_threadpool(self.registry.deployment, request.path_params["id"])
        page = f"/deployments/{deployment.id}"
        asked = self.confirm(
            request,
            session,
            form,
            f"Rotate the token of {deployment.name!r}? The current token stops working at "
            "once: every caller needs the new one.",
            "Rotate token",
            page,
        )
        if asked is not None:
            return asked
        deployment, token = await run_in_threadpool(self.registry.rotate_token, deployment.id)
        await asyncio.to_thread(self.cache.refresh)
        notice = f"Token of {deployment.name!r} rotated: the old one no longer works."
        return self.back(page, session, notice, token)

    async def delete(self, request: Request, session: Session) -> Response:
        form = await self.form(request, session)
        deployment = await run_in_threadpool(self.registry.deployment, request.path_params["id"])
        asked = self.confirm(
            request,
            session,
            form,
            f"Delete {deployment.name!r}? Its URL and token are gone for good; this cannot "
            "be undone.",
            "Delete deployment",
            f"/deployments/{deployment.id}",
        )
        if asked is not None and not deployment.enabled:
            return asked  # an enabled one is refused below, with why: no question first
        try:
            await run_in_threadpool(self.registry.delete_deployment, deployment.id)
        except ForwardpassError as exc:
            return await self._view(
                request, session, deployment.id, status=exc.status, error=exc.message
            )
        return self.back("/deployments", session, f"Deployment {deployment.name!r} deleted.")

    async def try_it(self, request: Request, session: Session) -> Response:
        """One real prediction from the Try it form, through the serving path."""
        form = await self.form(request, session)
        deployment_id = request.path_params["id"]
        values: dict[str, str] = {}
        try:
            for key, value in form.multi_items():
                if not key.startswith("in:"):
                    continue
                if isinstance(value, UploadFile):
                    data = await value.read()
                    if data:
                        kind = value.content_type or "application/octet-stream"
                        values[key[3:]] = f"data:{kind};base64,{base64.b64encode(data).decode()}"
                else:
                    values[key[3:]] = value
            answer = await self._predict(deployment_id, values)
        except ForwardpassError as exc:
            return await self._view(
                request,
                session,
                deployment_id,
                status=exc.status,
                try_error=exc.message,
                try_values=values,
            )
        return await self._view(
            request, session, deployment_id, try_answer=answer, try_values=values
        )

    async def _predict(self, deployment_id: str, values: dict[str, str]) -> Any:
        deployment = await run_in_threadpool(self.registry.deployment, deployment_id)
        live = self.cache.get(deployment.id)
        if live is None or live.revision != deployment.revision:
            await asyncio.to_thread(self.cache.refresh)
            live = self.cache.get(deployment.id)
        if live is not None and live.enabled:
            live.require_loaded()
        if live is None or not live.enabled or live.interface is None:
            raise DeploymentNotEnabled("enable the deployment to try it")
        # The admin's session stands for the token: the page checked it.
        answer, _timing = await self.predictor.predict(deployment.id, ADMIN, _TryIt(values))
        return answer


class _TryIt:
    """The Try it form as `Predictor.predict` takes it: one example, answered as one row."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    async def rows(self, live: Live) -> Any:
        assert live.interface is not None
        missing = [f.api_name for f in live.interface.inputs if not self.values.get(f.api_name)]
        if missing:
            raise BadData(f"fill in {', '.join(map(repr, missing))}")
        return [live.interface.from_form(self.values)]

    def gone(self) -> bool:
        return False

    def answer(self, rows: Rows) -> Any:
        return rows[0]


def _safe_back(form: FormData, default: str) -> str:
    target = form.get("back")
    if isinstance(target, str) and target.startswith("/") and not target.startswith("//"):
        return target
    return default
