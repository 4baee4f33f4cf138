"""Editing named settings through `services.config.update_document`.

`update_document` hands its `mutate` callback the stored `dagster.yaml` document under the
settings row lock. `edit_settings` turns "these settings get these values" into such a
callback, using the engine's own setting rules (`apply_setting`) and writer
(`to_instance_dict`), so a value lands where the file keeps it (legacy `run_queue` or the
`concurrency` block) and the two can never be written in a conflicting shape. The edit reads
the current values inside the lock, so adding a tag limit never loses a concurrent one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..engine.config.export import to_instance_dict
from ..engine.config.flat import apply_setting, config_to_flat
from ..engine.config.model import InvalidSetting
from ..engine.config.reader import parse_instance_dict
from ..errors import InvalidInput

Edit = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def edit_settings(edit: Edit) -> Callable[[dict], None]:
    """A `mutate` for `update_document`: `edit(current flat settings)` returns the changes.

    Raises InvalidInput naming each refused setting (its path is the setting name).
    """

    def mutate(document: dict) -> None:
        config = parse_instance_dict(document, env=None).config
        if config is None:  # the stored document is always valid; see services.config
            raise InvalidInput.one("configuration", "the stored configuration is invalid")
        errors = []
        for name, value in edit(config_to_flat(config)).items():
            try:
                config = apply_setting(config, name, value)
            except InvalidSetting as exc:
                errors.append(exc.error)
        if errors:
            raise InvalidInput(errors)
        document.clear()
        document.update(to_instance_dict(config))

    return mutate


def set_values(values: Mapping[str, Any]) -> Callable[[dict], None]:
    return edit_settings(lambda current: values)
