"""What a refused request or command must leave alone, and a check that it did."""

from __future__ import annotations

from queueing.models import AuditEntry, DeploymentSettings, Pool, PoolClaim, Run, Step
from queueing.services import config as config_service


def db_state() -> dict:
    row = DeploymentSettings.objects.filter(pk=1).first()
    return {
        "runs": list(
            Run.objects.order_by("id").values_list("run_id", "status", "priority", "tags")
        ),
        "steps": Step.objects.count(),
        "pools": list(Pool.objects.order_by("key").values_list("key", "limit", "from_default")),
        "claims": PoolClaim.objects.count(),
        "config": None if row is None else (row.document, row.sources),
        "audit": AuditEntry.objects.count(),
    }


def snapshot():
    """Record the state now; calling the returned function asserts nothing changed since."""
    config_service.settings_row()
    before = db_state()

    def check() -> None:
        assert db_state() == before

    return check
