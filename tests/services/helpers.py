"""Small builders for service tests: configure limits, submit runs, read state back."""

from __future__ import annotations

import yaml

from queueing.models import Run
from queueing.services import config, runs


def load_config(document: dict) -> None:
    config.load_yaml(yaml.safe_dump(document), actor="test")


def submit(job: str = "quick", **tags: str) -> Run:
    return runs.submit(job, tags=tags, actor="test")


def statuses() -> dict[str, str]:
    return dict(Run.objects.values_list("run_id", "status"))
