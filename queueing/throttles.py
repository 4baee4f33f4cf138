"""The per-user submit rate (SUBMIT_RATE), with DRF's throttling, for the API and the
launchpad alike."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.throttling import UserRateThrottle


class SubmitRateThrottle(UserRateThrottle):
    """Run submits per user at SUBMIT_RATE (e.g. "120/minute"; None: no limit). Only POSTs
    count; the history is kept in the default cache (CACHE_URL shares it between web
    processes). Read at each request, so a test or a deployment can change it."""

    scope = "submit"

    def get_rate(self) -> str | None:
        return settings.SUBMIT_RATE

    def allow_request(self, request: Any, view: Any) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)

    def refusal(self) -> str:
        wait = self.wait()
        seconds = f"; try again in {wait:.0f} s" if wait is not None else ""
        return f"too many runs submitted: the limit is {settings.SUBMIT_RATE} per user (SUBMIT_RATE){seconds}"
