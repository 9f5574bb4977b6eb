"""A notice shown once, on the page an action redirects to (post, redirect, get).

The notice travels in its own cookie (HttpOnly, SameSite=Strict), encrypted and signed
with a key derived from the session key, and bound to the session that made it (its CSRF
token is inside): a new deployment token in it reaches no URL, no
log and no other process's memory, and every serving process can read it (`--workers`, or
several machines on one registry). The page that shows it deletes the cookie, so a reload
shows nothing again; a cookie never shown expires after `MAX_AGE` seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "forwardpass_notice"
MAX_AGE = 300


@dataclass(frozen=True)
class Flash:
    notice: str
    token: str | None = None  # a deployment token just made, shown only with this notice


def _fernet(key: str) -> Fernet:
    derived = hmac.new(key.encode(), b"forwardpass-flash", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def read(request: Request, key: str, csrf: str) -> Flash | None:
    """The notice the request's cookie holds, if it is one of ours, fresh, and made for
    this session (the one whose CSRF token is `csrf`)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(_fernet(key).decrypt(raw.encode(), ttl=MAX_AGE))
        notice, token = data["notice"], data.get("token")
        if not hmac.compare_digest(str(data["csrf"]), csrf):
            return None
    except (InvalidToken, ValueError, KeyError, TypeError):
        return None
    if not isinstance(notice, str) or not (token is None or isinstance(token, str)):
        return None
    return Flash(notice, token)


def save(
    request: Request, response: Response, key: str, csrf: str, new: Flash | None, drop: bool
) -> None:
    """Set the cookie to the `new` notice for the session of `csrf`, else delete it when
    `drop` (it was shown, or it cannot be read)."""
    secure = request.url.scheme == "https"
    if new is not None:
        data = json.dumps({"notice": new.notice, "token": new.token, "csrf": csrf}).encode()
        sealed = _fernet(key).encrypt(data)
        response.set_cookie(
            COOKIE,
            sealed.decode(),
            max_age=MAX_AGE,
            path="/",
            httponly=True,
            samesite="strict",
            secure=secure,
        )
    elif drop and COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
