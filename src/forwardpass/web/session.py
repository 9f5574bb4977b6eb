"""The pages' session: a signed cookie (HttpOnly, SameSite=Strict) and CSRF protection.

The cookie holds only a CSRF token and whether the admin logged in, signed with a key kept
in the registry beside the admin credential (so every serving process accepts it). A new
credential or an admin's logout replaces the key, which ends every session at once, copied
cookies included. Every form carries the CSRF token; a POST is refused when
the token does not match, or when the browser says it comes from another origin.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from forwardpass.errors import CrossSiteRequest
from forwardpass.web.flash import Flash

COOKIE = "forwardpass_session"
MAX_AGE = 12 * 3600


@dataclass
class Session:
    csrf: str
    admin: bool = False
    changed: bool = False
    flash: Flash | None = None  # the notice the previous action left for this page
    flash_shown: bool = False
    next_flash: Flash | None = None  # the notice for the page this answer redirects to


def _serializer(key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt="forwardpass-session")


def load(request: Request, key: str) -> Session:
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            data = _serializer(key).loads(raw, max_age=MAX_AGE)
            if isinstance(data, dict) and isinstance(data.get("csrf"), str):
                return Session(csrf=data["csrf"], admin=data.get("admin") is True)
        except BadSignature:
            pass
    return Session(csrf=secrets.token_urlsafe(32), changed=True)


def save(request: Request, response: Response, session: Session, key: str) -> None:
    if not session.changed:
        return
    value = _serializer(key).dumps({"csrf": session.csrf, "admin": session.admin})
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def check_post(request: Request, session: Session, form: FormData) -> None:
    """Refuse a form post from another origin or without this session's CSRF token."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin != own:
        raise CrossSiteRequest(f"a form posted from {origin} is refused; post from {own}")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise CrossSiteRequest("a form posted from another site is refused")
    sent = form.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, session.csrf):
        raise CrossSiteRequest(
            "the form's CSRF token is missing or stale; reload the page and send it again"
        )
