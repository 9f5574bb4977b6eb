"""The model pages: upload, list, and the signature of a version."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from forwardpass.errors import BadData, ForwardpassError
from forwardpass.services.models import import_model, signature_text
from forwardpass.web.pages import Pages
from forwardpass.web.session import Session


class ModelPages(Pages):
    async def index(self, request: Request, session: Session) -> Response:
        return await self._index(request, session)

    async def _index(self, request: Request, session: Session, **extra: Any) -> Response:
        found = await run_in_threadpool(self.registry.models)
        status = extra.pop("status", 200)
        context = {"models": found, "used": await run_in_threadpool(self._used), **extra}
        return self.render(request, session, "models.html", context, status)

    def _used(self) -> set[str]:
        return {d.model.ref for d in self.registry.deployments()}

    async def upload(self, request: Request, session: Session) -> Response:
        form = await self.form(request, session)
        try:
            file = form.get("file")
            if not isinstance(file, UploadFile) or not file.filename:
                raise BadData("choose a model file to upload")
            data = await file.read()
            given = form.get("signature")
            signature = None
            if isinstance(given, UploadFile) and given.filename:
                signature = signature_text(await given.read())
            name = form.get("name")
            filename = file.filename.rsplit("/", 1)[-1]
            default = filename.rsplit(".", 1)[0] if "." in filename[1:] else filename
            chosen = name.strip() if isinstance(name, str) and name.strip() else default
            model = await run_in_threadpool(
                import_model, self.registry, data, chosen, signature, filename
            )
        except ForwardpassError as exc:
            return await self._index(request, session, error=exc.message, status=exc.status)
        notice = f"Model {model.ref} imported."
        return self.back(f"/models/{quote(model.name)}/{model.version}", session, notice)

    async def show(self, request: Request, session: Session) -> Response:
        model = await run_in_threadpool(self.registry.model, _ref(request))
        everything = await run_in_threadpool(self.registry.deployments)
        used = [d for d in everything if d.model.id == model.id]
        context = {"model": model, "users": used, "signature": model.signature.to_dict()}
        return self.render(request, session, "model.html", context)

    async def download(self, request: Request, session: Session) -> Response:
        """The version's ONNX file, as it was imported (the admin's session only)."""
        model = await run_in_threadpool(self.registry.model, _ref(request))
        return FileResponse(
            self.registry.store.path(model.sha256),
            media_type="application/octet-stream",
            filename=f"{model.name}-{model.version}.onnx",
            headers={"Cache-Control": "no-store"},
        )

    async def delete(self, request: Request, session: Session) -> Response:
        form = await self.form(request, session)
        ref = _ref(request)
        asked = self.confirm(
            request,
            session,
            form,
            f"Delete {ref}? Its ONNX file is gone for good; this cannot be undone.",
            "Delete model",
            "/models",
        )
        if asked is not None:
            return asked
        try:
            await run_in_threadpool(self.registry.delete_model, ref)
        except ForwardpassError as exc:
            return await self._index(request, session, error=exc.message, status=exc.status)
        return self.back("/models", session, f"Model {ref} deleted.")


def _ref(request: Request) -> str:
    return f"{request.path_params['name']}:{request.path_params['version']}"
