"""Request fields that take JSON as sent: no string read as a number, no number read as a
boolean. Their messages name the rule; ranges and grammars stay with the services, which
the dashboard and the command line call too."""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from rest_framework import serializers


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (not a boolean, a float or a string). `rule` ends the messages
    ("between 0 and 1000"); `min_value`/`max_value` only document the range in the schema:
    the service checks it, with the same message for every shell."""

    def __init__(self, rule: str, required_message: str, **kwargs: Any) -> None:
        self.rule = rule
        kwargs.setdefault("error_messages", {})
        kwargs["error_messages"] |= {
            "required": required_message,
            "null": f"expected an integer {rule}, got null",
        }
        super().__init__(**kwargs)
        self.validators = [
            v for v in self.validators if not isinstance(v, MinValueValidator | MaxValueValidator)
        ]

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError(f"expected an integer {self.rule}, got {_kind(data)}")
        return data


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false, nothing that merely looks like one."""

    default_error_messages = {
        "invalid": "expected true or false",
        "null": "expected true or false",
    }

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictCharField(serializers.CharField):
    """A JSON string, kept exactly as sent (no trimming); `message` for anything else."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("error_messages", {})
        kwargs["error_messages"] |= {
            "required": message,
            "invalid": message,
            "null": message,
            "blank": message,
        }
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return data


class StrictDictField(serializers.DictField):
    """A JSON object; `message` for anything else."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", {})
        kwargs["error_messages"] |= {"required": message, "not_a_dict": message, "null": message}
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        return data


class ServiceCheckedMixin:
    """Passed on as sent: the service validates this value with the rules (and messages)
    every shell shares, e.g. a pool key by the key grammar or tags by the submit's checks."""

    def to_internal_value(self, data: Any) -> Any:
        return data


class ServiceCheckedCharField(ServiceCheckedMixin, serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, allow_blank=True, trim_whitespace=False, **kwargs)


class ServiceCheckedDictField(ServiceCheckedMixin, serializers.DictField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, **kwargs)
