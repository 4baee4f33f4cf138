"""A Dagster run launcher that only records which runs it was asked to launch, in order.

Named in the test instances' dagster.yaml (`run_launcher: {module: tests.dagster.launcher,
class: RecordingRunLauncher}`), so the queue daemon's own iteration launches into it.
"""

from __future__ import annotations

from typing import Any

from dagster._core.launcher import RunLauncher
from dagster._serdes import ConfigurableClass

LAUNCHED: list[str] = []


class RecordingRunLauncher(RunLauncher, ConfigurableClass):
    def __init__(self, inst_data: Any = None) -> None:
        self._inst_data = inst_data
        super().__init__()

    @property
    def inst_data(self) -> Any:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> RecordingRunLauncher:
        return cls(inst_data=inst_data)

    def launch_run(self, context: Any) -> None:
        LAUNCHED.append(context.dagster_run.run_id)

    def terminate(self, run_id: str) -> bool:
        return False
