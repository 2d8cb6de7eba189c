"""The console's session cookie and CSRF tokens, pure apart from the clock and the random nonce.

A session is ``<nonce>.<expiry>.<mac>``: the MAC (HMAC-SHA256 under a secret the server draws at
start) makes it unforgeable, the expiry bounds it. The CSRF token is a second MAC of the session
value, so it needs no storage and a page of one session cannot post for another; a form carries it
in a hidden field, ``fetch`` in the ``X-CSRF-Token`` header. Before login there is no session, so
the login form is protected by a double-submit token (a cookie and a field that must match).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

COOKIE = "stillhouse_console"
LOGIN_COOKIE = "stillhouse_console_login"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class SessionKeys:
    """The signing secret (one per server process: a restart logs every console out) and lifetime."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    ttl_s: int = 12 * 3600

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self.secret, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def issue(self, now: float | None = None) -> str:
        """A new session value."""
        payload = f"{secrets.token_hex(16)}.{int((now or time.time()) + self.ttl_s)}"
        return f"{payload}.{self._mac('session', payload)}"

    def valid(self, value: str | None, now: float | None = None) -> bool:
        """Whether ``value`` is a session this server issued and that has not expired."""
        parts = (value or "").split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return False
        payload = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(parts[2], self._mac("session", payload)):
            return False
        return int(parts[1]) > (now or time.time())

    def csrf(self, session: str) -> str:
        """The CSRF token of a session."""
        return self._mac("csrf", session)

    def csrf_ok(self, session: str | None, token: str | None) -> bool:
        if not session or not token:
            return False
        return hmac.compare_digest(token, self.csrf(session))


def same_secret(given: str, expected: str) -> bool:
    """The API key typed at login against the server's, in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())
