"""What every page shares: the admin session, CSRF checks on forms, and rendering."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from forwardpass.errors import ForwardpassError, RegistryUnavailable
from forwardpass.registry import Registry, outage
from forwardpass.services.admin_auth import refuse_deployment_token
from forwardpass.services.forms import form_errors
from forwardpass.serving.served import ServedDeployments
from forwardpass.settings import Settings
from forwardpass.web import flash as flashes
from forwardpass.web import session as sessions
from forwardpass.web.flash import Flash
from forwardpass.web.session import Session

HERE = Path(__file__).parent
Handler = Callable[[Request, Session], Awaitable[Response]]


class LoginNeeded(Exception):
    pass


def _date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, str) and value:
        return value[:16].replace("T", " ") + " UTC"
    return "never"


_OWN_FIELDS = {"csrf", "confirmed"}
_TITLES = {403: "Not allowed", 404: "Not found", 409: "Conflict", 429: "Too many attempts"}


class Pages:
    """The base of the page handlers: `guard` wraps each one with the session and login."""

    def __init__(self, registry: Registry, settings: Settings, cache: ServedDeployments) -> None:
        self.registry = registry
        self.settings = settings
        self.cache = cache
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters["date"] = _date
        self.templates.env.filters["pretty_json"] = _pretty_json

    def guard(self, handler: Handler, *, login: bool = True) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            session = Session(csrf="")  # until the request's own is read
            try:
                with outage.translated():
                    await refuse_deployment_token(request)
                    key = await run_in_threadpool(self.registry.admin.session_key)
                    session = sessions.load(request, key)
                    session.flash = flashes.read(request, key, session.csrf)
                    if login and not session.admin:
                        target = quote(request.url.path)
                        response: Response = RedirectResponse(
                            f"/login?next={target}", status_code=303
                        )
                    else:
                        response = await handler(request, session)
            except RegistryUnavailable as exc:
                # A page, not the API's JSON: without the registry there is no session to use.
                unknown = Session(csrf="")
                response = self.render(
                    request, unknown, "unavailable.html", {"error": exc.message}, exc.status
                )
                response.headers.update(exc.headers)
                return response
            except ForwardpassError as exc:
                # A browser gets a page; a program (API clients, fetch) the contract's JSON.
                if "text/html" not in request.headers.get("accept", ""):
                    raise
                response = self.render(
                    request,
                    session,
                    "error.html",
                    {"title": _TITLES.get(exc.status, "Refused"), "error": exc.message},
                    exc.status,
                )
                response.headers.update(exc.headers)
                return response
            sessions.save(request, response, session, key)
            stale = flashes.COOKIE in request.cookies and session.flash is None
            drop = session.flash_shown or stale
            flashes.save(request, response, key, session.csrf, session.next_flash, drop)
            return response

        return endpoint

    async def form(self, request: Request, session: Session) -> FormData:
        """The posted form, once its origin and CSRF token are checked."""
        with form_errors():
            form = await request.form(max_files=8, max_fields=500)
        sessions.check_post(request, session, form)
        return form

    def render(
        self,
        request: Request,
        session: Session,
        template: str,
        context: dict[str, Any],
        status: int = 200,
    ) -> Response:
        context = {"csrf": session.csrf, "admin": session.admin, "flash": None, **context}
        if session.flash is not None and status < 400:
            context["flash"] = session.flash
            session.flash_shown = True
        response = self.templates.TemplateResponse(request, template, context, status_code=status)
        # Pages show tokens; keep them out of caches and out of other sites' frames.
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
        )
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    @staticmethod
    def back(
        path: str, session: Session | None = None, notice: str = "", token: str | None = None
    ) -> Response:
        """Redirect after a form's post, with a notice for the page it leads to."""
        if session is not None and notice:
            session.next_flash = Flash(notice, token)
        return RedirectResponse(path, status_code=303)

    def confirm(
        self,
        request: Request,
        session: Session,
        form: FormData,
        question: str,
        action: str,
        cancel: str,
    ) -> Response | None:
        """A page that asks `question` before a post that cannot be undone or breaks
        callers, unless the post says it was confirmed (the page's dialog or this page
        did). None when confirmed: go on."""
        if form.get("confirmed") == "1":
            return None
        fields = [
            (k, v) for k, v in form.multi_items() if isinstance(v, str) and k not in _OWN_FIELDS
        ]
        context = {
            "question": question,
            "action": action,
            "post": request.url.path,
            "fields": fields,
            "cancel": cancel,
        }
        return self.render(request, session, "confirm.html", context)


def _pretty_json(value: object) -> str:
    """JSON to show in a page: Jinja's `tojson` writes `<` as \\u003c, made to sit inside a
    <script>; shown as text, the page's own escaping is enough and `<` reads as `<`."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
