"""The Django admin: a read-only window on the stored state.

Every change goes through `queueing.services` (the dashboard, the API, the CLI), which
takes the locks the limits rely on and writes the audit log. An admin form would do
neither, so no model here can be added, changed or deleted through the admin; audit
entries above all can never be edited or removed.
"""

from __future__ import annotations

from django.contrib import admin

from .models import (
    AuditEntry,
    DaemonHeartbeat,
    DeploymentSettings,
    Pool,
    PoolClaim,
    Run,
    RunEvent,
    RunWait,
    Step,
    TickRecord,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and shows rows; refuses add, change and delete for every user, superusers too."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor", "action", "target")
    list_filter = ("action",)
    search_fields = ("actor", "target")


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ("run_id", "job_name", "status", "priority", "created_at", "ended_at")
    list_filter = ("status", "job_name")
    search_fields = ("run_id", "job_name")
    exclude = ("plan",)


@admin.register(Step)
class StepAdmin(ReadOnlyAdmin):
    list_display = ("run", "step_key", "status", "pool", "started_at", "ended_at")
    list_filter = ("status",)
    exclude = ("output",)


@admin.register(RunEvent)
class RunEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "run", "kind", "step_key")
    list_filter = ("kind",)


@admin.register(RunWait)
class RunWaitAdmin(ReadOnlyAdmin):
    list_display = ("run", "rule", "started_at", "ended_at")


@admin.register(Pool)
class PoolAdmin(ReadOnlyAdmin):
    list_display = ("key", "limit", "from_default", "updated_at")


@admin.register(PoolClaim)
class PoolClaimAdmin(ReadOnlyAdmin):
    list_display = ("pool_key", "run", "step_key", "priority", "enqueued_at", "claimed_at")


@admin.register(DaemonHeartbeat)
class DaemonHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("daemon", "host", "pid", "last_heartbeat", "last_success_at")


@admin.register(TickRecord)
class TickRecordAdmin(ReadOnlyAdmin):
    list_display = ("daemon", "started_at", "duration_ms", "launched", "error")
    list_filter = ("daemon",)


@admin.register(DeploymentSettings)
class DeploymentSettingsAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "updated_at")
