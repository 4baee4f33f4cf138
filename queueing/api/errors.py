"""The API's one exception handler (`REST_FRAMEWORK["EXCEPTION_HANDLER"]`).

Every refusal of input, whoever made it (a request serializer, the body parser of the input
boundary, a service), answers 400 `{"errors": [{"path", "message"}]}` naming each field and
its rule, as the dashboard and the command line show the same problems; a missing object
answers 404 and a request the object's state forbids 409, both `{"detail": ...}`. Anything
else is DRF's own answer (401, 403, 405, 415, 429, ...).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from ..engine.types import ConfigError
from ..errors import Conflict, InvalidInput, NotFound
from .parsers import RefusedBody


def _problems(detail: Any, path: str = "") -> Iterator[ConfigError]:
    """(path, message) of each error of a serializer's detail, nested fields as `a.b`."""
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            if key == api_settings.NON_FIELD_ERRORS_KEY:
                yield from _problems(value, path)
            else:
                yield from _problems(value, f"{path}.{key}" if path else str(key))
    elif isinstance(detail, list):
        for item in detail:
            yield from _problems(item, path)
    else:
        yield ConfigError(path or "body", str(detail))


def as_invalid_input(exc: Exception) -> InvalidInput | None:
    """The refusal of input `exc` stands for, if it is one."""
    if isinstance(exc, InvalidInput):
        return exc
    if isinstance(exc, RefusedBody):
        return InvalidInput(exc.errors)
    if isinstance(exc, RequestDataTooBig):
        # Django would answer with an HTML page; API clients need the field and the rule.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return InvalidInput.one("body", f"request body is larger than {limit} bytes")
    if isinstance(exc, ValidationError):
        return InvalidInput(_problems(exc.detail))
    if isinstance(exc, ParseError):
        return InvalidInput.one("body", str(exc.detail))
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    invalid = as_invalid_input(exc)
    if invalid is not None:
        return Response(invalid.as_json(), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, NotFound):
        return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, Conflict):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)
