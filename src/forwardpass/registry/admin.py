"""The admin credential: one token that opens the management API and the pages.

The token comes from `FORWARDPASS_ADMIN_TOKEN`, or is generated on the first start and
shown once. Unlike a deployment token it may be chosen by a person, so it is stored with a
salted, slow hash (PBKDF2-SHA256); a verified token is remembered in memory by its SHA-256
so that each API call does not pay for the slow hash again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from forwardpass.registry import tokens
from forwardpass.registry.schema import admin

_ITERATIONS = 200_000


def hash_secret(token: str, salt: str | None = None, iterations: int = _ITERATIONS) -> str:
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", token.encode(), bytes.fromhex(salt), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${digest.hex()}"


def verify_secret(token: str, stored: str) -> bool:
    try:
        _scheme, iterations, salt, _digest = stored.split("$")
        expected = hash_secret(token, salt, int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(expected, stored)


class AdminCredential:
    """The admin row of one registry database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # stored hash -> SHA-256 of the token that matched it; forgotten when the hash changes
        self._verified: dict[str, str] = {}

    def ensure(self, given: str | None) -> str | None:
        """Make sure a credential exists; returns a newly generated token (to show once).

        A `given` token replaces a stored one that differs from it; without one, the stored
        token stays, and only a registry without any gets a generated token.
        """
        stored = self._row()
        if given:
            if stored is None:
                if self._insert(hash_secret(given)):
                    return None
                stored = self._row()  # another process starting with us created it first
            if stored is not None and not verify_secret(given, stored.token_hash):
                self._write(hash_secret(given))
            return None
        if stored is not None:
            return None
        token = tokens.new_token()
        # Another process may create it first: its token is then the one shown, once.
        return token if self._insert(hash_secret(token)) else None

    def matches(self, token: str | None) -> bool:
        if not token:
            return False
        stored = self._row()
        if stored is None:
            return False
        quick = tokens.hash_token(token)
        known = self._verified.get(stored.token_hash)
        if known is not None:
            return hmac.compare_digest(known, quick)
        if verify_secret(token, stored.token_hash):
            self._verified = {stored.token_hash: quick}
            return True
        return False

    def session_key(self) -> str:
        """The key that signs page sessions; it changes with the credential and at logout."""
        stored = self._row()
        if stored is None:
            raise RuntimeError("no admin credential yet; call ensure() first")
        return str(stored.session_key)

    def end_sessions(self) -> None:
        """End every page session at once, in every serving process: a new signing key.

        The key is read from the registry on each page request, so a cookie signed with the
        old one is refused from the next request on, wherever it was copied to.
        """
        values = {"session_key": secrets.token_hex(32), "updated_at": datetime.now(UTC)}
        with self.engine.begin() as connection:
            connection.execute(admin.update().where(admin.c.id == 1).values(**values))

    def _row(self) -> sa.Row[tuple[object, ...]] | None:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(admin).where(admin.c.id == 1)).first()

    def _values(self, token_hash: str) -> dict[str, object]:
        # A new session key with each credential: sessions of the old one end at once.
        return {
            "token_hash": token_hash,
            "session_key": secrets.token_hex(32),
            "updated_at": datetime.now(UTC),
        }

    def _insert(self, token_hash: str) -> bool:
        """Create the row; False when another process created it first."""
        values = self._values(token_hash)
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    admin.insert().values(id=1, created_at=values["updated_at"], **values)
                )
        except IntegrityError:
            return False
        return True

    def _write(self, token_hash: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                admin.update().where(admin.c.id == 1).values(**self._values(token_hash))
            )
