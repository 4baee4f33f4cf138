"""What a user below a role may not read: secrets for non-admins, tracebacks for viewers.

Every page and endpoint that shows a kept-verbatim `dagster.yaml` section (`storage`,
`run_launcher`, ...), a run config, a daemon error or a step error passes it through
here for a user without the right role, so the rule lives in one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "********"

# A key whose value is a secret: `password`, `postgres_password`, `secret_access_key`,
# `token`, `api_key`, `credentials`, `private_key_pem`, ... (case-insensitive).
_SECRET_KEY = re.compile(r"passw(or)?d|secret|token|credential|key", re.IGNORECASE)
# The password part of `scheme://user:password@host/...`, wherever a URL appears in text.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+(?=@)")


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key))


def mask_url_passwords(text: str) -> str:
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


def _is_env_reference(value: Any) -> bool:
    # `{env: DAGSTER_PG_PASSWORD}` names a variable; the name is not the secret.
    return isinstance(value, Mapping) and list(value) == ["env"] and isinstance(value["env"], str)


def mask_secrets(value: Any, secret: bool = False) -> Any:
    """A copy of `value` with every value under a secret-looking key replaced by MASK
    (mappings and lists under it keep their shape) and passwords cut out of URLs.
    Iterative would be safer for depth, but values reaching here passed the input
    boundary (at most INPUT_MAX_DEPTH levels)."""
    if isinstance(value, Mapping):
        if _is_env_reference(value):
            return dict(value)
        return {k: mask_secrets(v, secret or is_secret_key(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_secrets(v, secret) for v in value]
    if secret and value is not None:
        return MASK
    if isinstance(value, str):
        return mask_url_passwords(value)
    return value


_TRACEBACK = "Traceback (most recent call last):"


def error_summary(text: str) -> str:
    """`ValueError: boom` out of a whole traceback: the exception's type and message, without
    the frames and server paths. Text that is not a traceback gives its first line."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    if _TRACEBACK in text:
        return lines[-1].strip()
    return lines[0].strip()
