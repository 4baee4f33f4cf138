"""Engine constants every template may need, so a page never repeats a number the engine
owns (`settings.TEMPLATES` lists this processor)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .engine.doctor.facts import STALLED_INTERVALS
from .engine.pools import MAX_POOL_LIMIT
from .engine.tags import HOLDERS_CAP


def engine_constants(request: HttpRequest) -> dict[str, Any]:
    return {
        "MAX_POOL_LIMIT": MAX_POOL_LIMIT,
        "HOLDERS_CAP": HOLDERS_CAP,
        "STALLED_INTERVALS": STALLED_INTERVALS,
    }
