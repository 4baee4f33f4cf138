"""Login rate limiting: django-axes' lockout check, for logins made over HTTP."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend


class LoginRateLimitBackend(AxesStandaloneBackend):
    """Refuses a login for a locked-out (username, client address) before any password check.

    Every login a person or a client makes (the login page, the admin) passes the request,
    and is checked. `authenticate()` called without a request (a script, `Client.login` in
    tests) has no client address to count failures by; axes would raise, so it is left to
    the password backends instead.
    """

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
