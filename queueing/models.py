"""Schema of concurrency-ui. State changes live in `queueing.services`, rules in `queueing.engine`."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform

from .engine.pools import MAX_POOL_LIMIT
from .engine.types import ACTIVE_STATUSES, FINISHED_STATUSES, RunStatus


def new_run_id() -> str:
    return str(uuid.uuid4())


class DeploymentSettings(models.Model):
    """The one row holding the deployment's configuration as a `dagster.yaml` document.

    The document is the engine's export of a validated configuration, so reading it back
    through `queueing.engine.config` always succeeds; `sources` says, per setting, whether
    its value is the default, came from an imported file, or was edited (browser/API/CLI).
    """

    document = models.JSONField(default=dict)
    sources = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [("change_limits", "Can change limits, pools and the configuration")]

    def __str__(self) -> str:
        return "Deployment settings"


class RunQuerySet(models.QuerySet):
    def queued(self) -> RunQuerySet:
        return self.filter(status=RunStatus.QUEUED)

    def active(self) -> RunQuerySet:
        return self.filter(status__in=list(ACTIVE_STATUSES))

    def finished(self) -> RunQuerySet:
        return self.filter(status__in=list(FINISHED_STATUSES))

    def in_queue_order(self) -> RunQuerySet:
        # The order the next tick considers runs: priority, then creation (SEMANTICS 2.3).
        return self.order_by("-priority", "id")

    def count_by_tag_value(self, key: str) -> dict[tuple[str, str | None], int]:
        """These runs counted by (status, value of their tag `key`; None without it),
        grouped in the database (fair share's values: the Queued tab, metrics, linter)."""
        rows = (
            self.annotate(tag_value=KeyTextTransform(key, "tags"))
            .values_list("status", "tag_value")
            .annotate(n=models.Count("id"))
            .order_by()
        )
        return {(status, value): n for status, value, n in rows}


class Backfill(models.Model):
    """A request for one run per partition of a partitioned job (SEMANTICS: Dagster's
    backfills). Its runs are ordinary queued runs tagged `dagster/backfill=<backfill_id>`
    and `dagster/partition=<key>`; progress is read from them."""

    class Status(models.TextChoices):
        REQUESTED = "REQUESTED"  # its runs are submitted; progress comes from them
        CANCELED = "CANCELED"  # canceled by an operator: queued runs canceled, others asked to stop

    backfill_id = models.CharField(max_length=20, unique=True)
    job_name = models.CharField(max_length=200)
    location_name = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    partition_keys = models.JSONField(default=list)
    tags = models.JSONField(default=dict, blank=True)
    run_config = models.JSONField(default=dict, blank=True)
    # The backfill whose failed partitions this one re-runs.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    canceled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"backfill {self.backfill_id} of {self.job_name}"


class Run(models.Model):
    Status = models.TextChoices("Status", [(s.value, s.value) for s in RunStatus])  # type: ignore[call-overload]

    # `id` is the creation order the queue relies on; `run_id` is the public identifier.
    run_id = models.CharField(max_length=36, unique=True, default=new_run_id, editable=False)
    job_name = models.CharField(max_length=200)
    location_name = models.CharField(max_length=300)
    status = models.CharField(max_length=16, choices=Status.choices, default=RunStatus.QUEUED)
    tags = models.JSONField(default=dict, blank=True)
    priority = models.IntegerField(default=0)
    run_config = models.JSONField(default=dict, blank=True)
    plan = models.JSONField(default=dict)
    pool_summary = models.JSONField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    # The first start estimate computed for the run while it was queued (normally right
    # after its enqueue): seconds after `enqueued_at`. /metrics compares it with the real
    # launch (services/estimates.record_first, services/metrics).
    start_estimate_seconds = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    canceling_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Written by the executing worker every few seconds; monitoring fails runs whose worker died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    launch_count = models.PositiveIntegerField(default=0)

    failure_reason = models.TextField(blank=True)
    # The backfill that submitted the run (its tag dagster/backfill says the same).
    backfill = models.ForeignKey(
        Backfill, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    # The rule that held the run at the last tick (a stable key) and its sentence.
    wait_rule = models.CharField(max_length=300, blank=True)
    wait_reason = models.TextField(blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        permissions = [("launch_run", "Can launch and terminate runs and change priorities")]
        indexes = [
            # The tick reads queued runs in queue order: WHERE status='QUEUED' ORDER BY -priority, id
            models.Index(
                fields=["-priority", "id"],
                name="run_queue_order",
                condition=Q(status="QUEUED"),
            ),
            # An unlimited queue's tick reads the runs of the stored rules that no longer
            # hold: WHERE status='QUEUED' AND wait_rule IN (...), and lists the distinct
            # rules one probe each (`services.run_queue._stored_rules`).
            models.Index(
                fields=["wait_rule", "-priority", "id"],
                name="run_queue_rule",
                condition=Q(status="QUEUED"),
            ),
            # Dashboards and counts filter by status and sort newest first.
            models.Index(fields=["status", "-id"], name="run_status_recent"),
            models.Index(fields=["job_name", "-id"], name="run_job_recent"),
            # Finished runs by end time: the last hour's counts (Overview, /metrics) and
            # retention (`run_retention_days`) read a range of it, never the whole history.
            models.Index(
                fields=["ended_at"], name="run_ended", condition=Q(ended_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_name} {self.run_id[:8]} ({self.status})"


class Step(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING"
        WAITING = "WAITING"  # ready, held by max_concurrent, an in-run tag limit or a pool
        RUNNING = "RUNNING"
        SUCCESS = "SUCCESS"
        FAILURE = "FAILURE"
        SKIPPED = "SKIPPED"  # an upstream step failed
        CANCELED = "CANCELED"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    step_key = models.CharField(max_length=200)
    op_name = models.CharField(max_length=200)
    plan_index = models.PositiveIntegerField()
    # The step's pool when it has exactly one ("" otherwise); `pools` is its whole demand.
    pool = models.CharField(max_length=200, blank=True)
    # Pool key -> slots the step claims of it, all at once (engine.pools.step_demand).
    pools = models.JSONField(default=dict, blank=True)
    priority = models.IntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    wait_reason = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Seconds from the step's first claim attempt to its start (null: it used no pool slot);
    # the pool page's wait percentiles and time at cap are read from it.
    slot_wait_seconds = models.FloatField(null=True, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    logs = models.TextField(blank=True)
    error = models.TextField(blank=True)
    # Pickled return value, handed to downstream steps that run in other processes.
    output = models.BinaryField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "step_key"], name="step_unique_key_per_run")
        ]
        ordering = ["run_id", "plan_index"]
        indexes = [
            # The pool page's statistics: WHERE pool=P AND started_at >= since
            models.Index(fields=["pool", "started_at"], name="step_pool_started"),
        ]

    def __str__(self) -> str:
        return f"{self.step_key} ({self.status})"


class RunEvent(models.Model):
    """Status changes and step events of a run: its timeline."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    step_key = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=40)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "id"], name="runevent_run")]

    def __str__(self) -> str:
        return f"{self.kind} {self.step_key}".strip()


class RunWait(models.Model):
    """One stretch of time a queued run waited on one rule; only changes are stored."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="waits")
    rule = models.CharField(max_length=300)
    message = models.TextField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["run", "id"], name="runwait_run"),
            # The last hour's waits (/metrics, Troubleshooting) and wait-history retention
            # read a range of end times (open waits included), not the whole history.
            models.Index(fields=["ended_at"], name="runwait_ended"),
        ]

    def __str__(self) -> str:
        return self.message


class Pool(models.Model):
    """A pool with a limit. A pool with no row is unlimited (SEMANTICS 3.3)."""

    key = models.CharField(max_length=200, unique=True)
    limit = models.IntegerField()
    # True when the limit came from `default_limit` and follows it when it changes.
    from_default = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(limit__gte=0) & Q(limit__lte=MAX_POOL_LIMIT), name="pool_limit_range"
            )
        ]
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key} ({self.limit})"


class PoolClaim(models.Model):
    """A step's entry in a pool: waiting for its slots (claimed_at null) or holding them.

    The entry exists from the step's first claim attempt until it frees its slot, like the
    reference's waiter rows; the number of entries holding a slot never exceeds the pool's
    limit because claims take the pool row's lock (see services.pools).
    """

    pool_key = models.CharField(max_length=200)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="claims")
    step_key = models.CharField(max_length=200)
    priority = models.IntegerField(default=0)
    enqueued_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Slots of the pool this entry holds or waits for (`pool_slots`); every entry of one
    # step is claimed and freed together.
    # (db_default too: an entry written by SQL that predates weights is one slot.)
    slots = models.PositiveIntegerField(default=1, db_default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pool_key", "run", "step_key"], name="poolclaim_one_per_step"
            ),
            models.CheckConstraint(
                condition=Q(slots__gte=1) & Q(slots__lte=MAX_POOL_LIMIT),
                name="poolclaim_slots_range",
            ),
        ]
        indexes = [
            # Next waiter: WHERE pool_key=P AND claimed_at IS NULL ORDER BY -priority, enqueued_at, id
            models.Index(
                fields=["pool_key", "-priority", "enqueued_at", "id"], name="poolclaim_order"
            )
        ]

    def __str__(self) -> str:
        state = "holds" if self.claimed_at else "waits for"
        return f"{self.step_key} {state} {self.pool_key}"


class DaemonHeartbeat(models.Model):
    class Daemon(models.TextChoices):
        RUN_QUEUE = "run_queue", "Run queue"
        RUN_MONITORING = "run_monitoring", "Run monitoring"
        SCHEDULES = "schedules", "Schedules"
        SENSORS = "sensors", "Sensors"

    daemon = models.CharField(max_length=40, choices=Daemon.choices, unique=True)
    # Identifies the database the writer used; the doctor compares it with the web server's.
    instance_id = models.CharField(max_length=64, blank=True)
    host = models.CharField(max_length=200, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    last_heartbeat = models.DateTimeField()
    last_tick_started = models.DateTimeField(null=True, blank=True)
    last_tick_duration_ms = models.FloatField(null=True, blank=True)
    last_launched = models.IntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # Up to five recent errors: [{"at": iso, "message": str, "traceback": str}]
    errors = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return self.get_daemon_display()


class TickRequest(models.Model):
    """A tick an event asked for that has not started yet (`services.tick_requests`).

    One row per daemon: `requested_at` is set when a request sends the tick task and
    cleared when that tick starts, so at most one requested tick is ever queued.
    """

    daemon = models.CharField(max_length=40, primary_key=True)
    requested_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.daemon} tick requested at {self.requested_at}"


class TickRecord(models.Model):
    """One tick of a daemon, kept for charts and metrics (bounded by retention)."""

    daemon = models.CharField(max_length=40)
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    launched = models.IntegerField(default=0)
    queued = models.IntegerField(default=0)
    active = models.IntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["daemon", "-started_at"], name="tick_recent")]

    def __str__(self) -> str:
        return f"{self.daemon} tick at {self.started_at}"


class AuditEntry(models.Model):
    """Who changed what, when, from which value to which. Never edited or deleted by the app."""

    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=60)
    target = models.CharField(max_length=300)
    old_value = models.JSONField(null=True, blank=True)
    new_value = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.target}"


# --- schedules and sensors (issue 16) -------------------------------------------------------


class AutomationKind(models.TextChoices):
    SCHEDULE = "schedule"
    SENSOR = "sensor"


class AutomationState(models.Model):
    """An operator's start/stop of a schedule or sensor, its cursor and its progress.

    No row: the definition's `default_status` applies. `last_handled` is, for a schedule,
    the last scheduled time its ticks accounted for; for a sensor, its last evaluation.
    """

    kind = models.CharField(max_length=10, choices=AutomationKind.choices)
    name = models.CharField(max_length=200)
    # "RUNNING" / "STOPPED" set by an operator; "" follows the definition's default_status.
    status = models.CharField(max_length=10, blank=True)
    # The text a sensor keeps between evaluations, or null (JSON: null and "" differ).
    cursor = models.JSONField(null=True, blank=True)
    last_handled = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="automation_state_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class AutomationTick(models.Model):
    """One evaluation of a schedule (one scheduled time) or a sensor, and its outcome."""

    class Outcome(models.TextChoices):
        REQUESTED = "REQUESTED"  # runs were requested (some may have been run-key duplicates)
        SKIPPED = "SKIPPED"
        FAILURE = "FAILURE"

    kind = models.CharField(max_length=10, choices=AutomationKind.choices)
    name = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    scheduled_time = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    message = models.TextField(blank=True)
    run_ids = models.JSONField(default=list, blank=True)
    duration_ms = models.FloatField(default=0)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["kind", "name", "-id"], name="automation_tick_recent")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} {self.outcome}"


class AutomationRun(models.Model):
    """The run a schedule launched for a scheduled time, or a sensor for a run key: the
    unique constraint is what makes a second launch for the same key impossible, whatever
    number of daemons tick."""

    kind = models.CharField(max_length=10, choices=AutomationKind.choices)
    name = models.CharField(max_length=200)
    key = models.CharField(max_length=500)
    run = models.ForeignKey(Run, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "name", "key"], name="automation_run_key_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} {self.key}"
