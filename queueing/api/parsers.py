"""The API's body parser: JSON read by the input boundary, with its limits and types."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from ..engine.types import ConfigError
from ..errors import InvalidInput
from ..inputs import read_bounded, read_json


class RefusedBody(ParseError):
    """A body the input boundary refused; `errors` keep the path and the rule."""

    def __init__(self, errors: list[ConfigError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


class LimitedJSONParser(JSONParser):
    """DRF's JSON parser, but depth, size, value count and types are checked by
    `queueing.inputs.read_json` (DRF's own would recurse 100,000 levels deep and answer
    500 with a RecursionError)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        data = read_bounded(stream)
        if data is None:
            maximum = settings.INPUT_MAX_BYTES
            message = f"larger than the limit of {maximum} bytes (INPUT_MAX_BYTES)"
            raise RefusedBody([ConfigError("body", message)])
        try:
            return read_json(data)
        except InvalidInput as exc:
            raise RefusedBody(exc.errors) from None
