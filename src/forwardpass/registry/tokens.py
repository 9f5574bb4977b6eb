"""Deployment tokens: random, shown once, stored as a hash, compared in constant time.

A token carries 256 random bits, so a plain SHA-256 is enough to store it: there is no
small space of likely tokens to search, which is what slow password hashes defend against.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str | None, token_hash: str) -> bool:
    if token is None:
        return False
    return hmac.compare_digest(hash_token(token), token_hash)


def from_header(authorization: str | None) -> str | None:
    """The token in `Authorization: Bearer <token>` or `Basic base64(<token>:)`."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip() or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        # curl -u "<token>:" puts the token in the user part; accept it in either.
        return user or password or None
    return None
