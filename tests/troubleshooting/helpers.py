"""Builders of the troubleshooting tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import yaml
from django.utils import timezone

from queueing.engine.doctor.facts import Finding, WorkerFacts
from queueing.models import Run
from queueing.services import config, doctor, runs

BOTH_QUEUES = WorkerFacts({"control@test": ("control",), "runs@test": ("runs",)})


def load(document: dict[str, Any]) -> None:
    config.load_yaml(yaml.safe_dump(document), actor="test")


def submit(job: str = "quick", **tags: str) -> Run:
    return runs.submit(job, tags=tags, actor="test")


def finding(check: str, now: datetime | None = None) -> Finding:
    found = [f for f in doctor.diagnose(now) if f.check == check]
    assert len(found) == 1
    return found[0]


def later(seconds: float) -> datetime:
    return timezone.now() + timedelta(seconds=seconds)


def evidence(f: Finding) -> str:
    return "\n".join(f.evidence)
