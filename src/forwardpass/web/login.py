"""The login form: the admin token in, a session cookie out."""

from __future__ import annotations

import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from forwardpass.errors import RateLimited
from forwardpass.services.admin_auth import gate
from forwardpass.web.pages import Pages
from forwardpass.web.session import Session


def _safe_next(value: object) -> str:
    # Only a path on this server: never send the admin on to another site after login.
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return value
    return "/deployments"


class LoginPages(Pages):
    async def show(self, request: Request, session: Session) -> Response:
        target = _safe_next(request.query_params.get("next"))
        return self.render(request, session, "login.html", {"next": target})

    async def login(self, request: Request, session: Session) -> Response:
        form = await self.form(request, session)
        target = _safe_next(form.get("next"))
        token = form.get("token")
        try:
            ok = isinstance(token, str) and await gate(request).matches(request, token.strip())
        except RateLimited as exc:
            context = {"next": target, "error": exc.message}
            response = self.render(request, session, "login.html", context, status=exc.status)
            response.headers.update(exc.headers)
            return response
        if not ok:
            context = {"next": target, "error": "That is not the admin token."}
            return self.render(request, session, "login.html", context, status=401)
        # A new CSRF token at login: one learned before it is worth nothing after.
        session.admin, session.csrf, session.changed = True, secrets.token_urlsafe(32), True
        return self.back(target)

    async def logout(self, request: Request, session: Session) -> Response:
        await self.form(request, session)
        if session.admin:
            # A copied cookie must not outlive the logout: a new signing key ends them all.
            # Only an admin's logout does it, else any visitor could log the admin out.
            await run_in_threadpool(self.registry.admin.end_sessions)
        session.admin, session.csrf, session.changed = False, secrets.token_urlsafe(32), True
        return self.back("/login")
