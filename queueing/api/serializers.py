"""The API's requests and responses.

Request serializers read every body (`is_valid(raise_exception=True)`; refusals become
`{"errors": [{path, message}]}` in `api.errors`); what a service checks for every shell
(a pool key, a limit's range, tags, a run config) they pass on as sent. Response shapes
document the dictionaries built by `queueing.services.queries` and the other services, so
the CLI's `--json` and the API agree; drf-spectacular turns both into the OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty

from ..engine.pools import MAX_POOL_LIMIT
from ..engine.types import INT32_MAX, INT32_MIN
from .fields import (
    ServiceCheckedCharField,
    ServiceCheckedDictField,
    StrictBooleanField,
    StrictCharField,
    StrictDictField,
    StrictIntegerField,
)

POOL_LIMIT_RULE = f"between 0 and {MAX_POOL_LIMIT}"
YAML_TEXT = "expected the text of a dagster.yaml"


# --- requests ---------------------------------------------------------------------------


class RequestSerializer(serializers.Serializer):
    """A body that is a JSON object with only the declared fields: anything else, and each
    unknown field by name, is refused before the fields are read."""

    def run_validation(self, data: Any = empty) -> Any:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"body": ["expected a JSON object"]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            expected = ", ".join(self.fields)
            raise serializers.ValidationError(
                {key: [f"unknown field: expected {expected}"] for key in unknown}
            )
        return super().run_validation(data)


class SubmitSerializer(RequestSerializer):
    job = StrictCharField("required: the name of a job")
    tags = ServiceCheckedDictField(child=serializers.CharField(), required=False)
    run_config = ServiceCheckedDictField(required=False)


class BackfillLaunchSerializer(RequestSerializer):
    """One of `partitions`, `from` and `to`, or `all` (checked by the service)."""

    job = StrictCharField("required: the name of a partitioned job")
    partitions = serializers.ListField(
        child=StrictCharField("expected a partition key (a string)"), required=False
    )
    all = StrictBooleanField(required=False, default=False)
    tags = ServiceCheckedDictField(child=serializers.CharField(), required=False)
    run_config = ServiceCheckedDictField(required=False)

    def get_fields(self) -> dict[str, serializers.Field]:
        # `from` is a Python keyword: declared here rather than as an attribute.
        fields = super().get_fields()
        fields["from"] = StrictCharField("expected a partition key (a string)", required=False)
        fields["to"] = StrictCharField("expected a partition key (a string)", required=False)
        return fields


class TerminateSerializer(RequestSerializer):
    force = StrictBooleanField(required=False, default=False)


class PrioritySerializer(RequestSerializer):
    priority = StrictIntegerField(
        "in the signed 32-bit range",
        "required: an integer",
        min_value=INT32_MIN,
        max_value=INT32_MAX,
    )


class FreeSlotsSerializer(RequestSerializer):
    step_key = ServiceCheckedCharField(required=False, help_text="one step; else the whole run")


def _pool_limit() -> StrictIntegerField:
    return StrictIntegerField(
        POOL_LIMIT_RULE,
        f"required: an integer {POOL_LIMIT_RULE}",
        min_value=0,
        max_value=MAX_POOL_LIMIT,
    )


class PoolLimitSerializer(RequestSerializer):
    limit = _pool_limit()


class PoolWriteSerializer(RequestSerializer):
    key = ServiceCheckedCharField(required=False)
    limit = _pool_limit()


class ConfigWriteSerializer(RequestSerializer):
    yaml = StrictCharField(YAML_TEXT, required=False, allow_blank=True)
    document = StrictDictField("expected an object", required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("yaml" in attrs) == ("document" in attrs):
            raise serializers.ValidationError(
                {"body": ["send exactly one of 'yaml' (text) or 'document' (object)"]}
            )
        return attrs


class ConfigSettingsSerializer(RequestSerializer):
    settings = ServiceCheckedDictField(
        error_messages={"required": "required: an object of setting name: value"},
        help_text='settings by name, as the configuration names them, e.g. {"max_concurrent_runs": 3}',
    )


class SimulateRequestSerializer(RequestSerializer):
    settings = ServiceCheckedDictField(
        required=False, help_text='settings by name, e.g. {"max_concurrent_runs": 3}'
    )
    yaml = StrictCharField(
        YAML_TEXT,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="a whole dagster.yaml",
    )
    pools = ServiceCheckedDictField(
        required=False, help_text='pool limits, e.g. {"api": 2}; null removes a limit'
    )


# --- responses --------------------------------------------------------------------------


class GateSerializer(serializers.Serializer):
    rule = serializers.ChoiceField(choices=["max_concurrent_runs", "tag", "pool"])
    subject = serializers.CharField()
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    passed = serializers.BooleanField()
    holders = serializers.ListField(child=serializers.CharField())
    message = serializers.CharField()


class QueueVerdictSerializer(serializers.Serializer):
    launches_next_tick = serializers.BooleanField()
    position = serializers.IntegerField()
    message = serializers.CharField()
    blocking = GateSerializer(required=False)
    gates = GateSerializer(many=True)


class StartEstimateSerializer(serializers.Serializer):
    """When a queued run should start (services/estimates.py)."""

    kind = serializers.ChoiceField(choices=["estimate", "blocked", "beyond", "no_history"])
    starts_in_seconds = serializers.IntegerField(allow_null=True)
    label = serializers.CharField()  # type: ignore[assignment]
    reason = serializers.CharField()
    assumed_jobs = serializers.ListField(child=serializers.CharField())
    assumption = serializers.CharField()


class RunSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    job_name = serializers.CharField()
    location = serializers.CharField()
    status = serializers.CharField()
    priority = serializers.IntegerField()
    tags = serializers.DictField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    enqueued_at = serializers.DateTimeField(allow_null=True)
    launched_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    failure_reason = serializers.CharField()
    wait_reason = serializers.CharField()
    queue = QueueVerdictSerializer(allow_null=True)
    start_estimate = StartEstimateSerializer(allow_null=True)


class StepSerializer(serializers.Serializer):
    step_key = serializers.CharField()
    status = serializers.CharField()
    pool = serializers.CharField(allow_null=True, help_text="the step's pool when it has one")
    pools = serializers.DictField(
        child=serializers.IntegerField(), help_text="slots the step claims of each pool"
    )
    priority = serializers.IntegerField()
    wait_reason = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField()
    logs = serializers.CharField()


class WaitSerializer(serializers.Serializer):
    """One stretch of waiting on one rule: `from` .. `to` (null while it still holds)."""

    rule = serializers.CharField()
    message = serializers.CharField()
    to = serializers.DateTimeField(allow_null=True)

    def get_fields(self):
        # `from` is a Python keyword, so it cannot be declared as a class attribute.
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField()
        return fields


class RunDetailSerializer(RunSerializer):
    run_config = serializers.DictField()
    steps = StepSerializer(many=True)
    wait_history = WaitSerializer(many=True)


class RunPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = RunSerializer(many=True)


class FreedSerializer(serializers.Serializer):
    freed = serializers.IntegerField()


class PoolJobSerializer(serializers.Serializer):
    location = serializers.CharField()
    job = serializers.CharField()


class PoolSerializer(serializers.Serializer):
    key = serializers.CharField()
    limit = serializers.IntegerField(allow_null=True, help_text="null: the pool has no limit")
    from_default = serializers.BooleanField()
    closed = serializers.BooleanField(help_text="limit 0: no step using the pool may start")
    held = serializers.IntegerField()
    waiting = serializers.IntegerField()
    jobs = PoolJobSerializer(many=True, help_text="jobs of loaded code locations using it")
    unused = serializers.BooleanField(help_text="a limit no code uses and no step claims")


class PoolStepSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    job_name = serializers.CharField()
    run_status = serializers.CharField()
    step_key = serializers.CharField()
    priority = serializers.IntegerField()
    since = serializers.DateTimeField()
    position = serializers.IntegerField(required=False)
    run_finished = serializers.BooleanField(required=False)
    run_freeable = serializers.BooleanField(required=False)


class PoolQueuedRunSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    job_name = serializers.CharField()
    priority = serializers.IntegerField()
    wait_reason = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    position = serializers.IntegerField()


class PoolHistorySerializer(serializers.Serializer):
    actor = serializers.CharField()
    action = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)
    at = serializers.DateTimeField()


class PoolWindowSerializer(serializers.Serializer):
    seconds = serializers.FloatField()
    steps = serializers.IntegerField()
    p50_wait_seconds = serializers.FloatField(allow_null=True)
    p95_wait_seconds = serializers.FloatField(allow_null=True)
    at_cap_share = serializers.FloatField(help_text="share of the window a step waited for a slot")


class PoolReportSerializer(PoolSerializer):
    """The pool page's data: `GET /api/pools/{key}/`."""

    limit_text = serializers.CharField()
    usage_text = serializers.CharField()
    granularity = serializers.CharField()
    slot_buffer = serializers.IntegerField()
    default_limit = serializers.IntegerField(allow_null=True)
    holders = PoolStepSerializer(many=True)
    waiters = PoolStepSerializer(many=True, help_text="in the order they will get slots")
    queued_runs = PoolQueuedRunSerializer(many=True, help_text="in queue order")
    history = PoolHistorySerializer(many=True)
    last_hour = PoolWindowSerializer()
    last_day = PoolWindowSerializer()


class ConfigSerializer(serializers.Serializer):
    document = serializers.DictField()
    yaml = serializers.CharField()
    sources = serializers.DictField(child=serializers.CharField(), required=False)


class ErrorSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="dotted path of the offending field or setting")
    message = serializers.CharField(help_text="what is wrong and the rule it breaks")


class ErrorsSerializer(serializers.Serializer):
    """A refused request: every problem found; nothing was changed."""

    errors = ErrorSerializer(many=True)  # type: ignore[assignment]


class DetailSerializer(serializers.Serializer):
    """Not found, not allowed, or a conflict with the object's state."""

    detail = serializers.CharField()


class ChangeSerializer(serializers.Serializer):
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class ConfigChangeSerializer(serializers.Serializer):
    document = serializers.DictField()
    yaml = serializers.CharField()
    changes = serializers.DictField(child=ChangeSerializer())
    ignored_sections = serializers.ListField(child=serializers.CharField())
    warnings = ErrorSerializer(many=True)
    dry_run = serializers.BooleanField()


class DaemonSerializer(serializers.Serializer):
    daemon = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    healthy = serializers.BooleanField()
    interval_seconds = serializers.IntegerField()
    last_heartbeat = serializers.DateTimeField(allow_null=True)
    last_tick_started = serializers.DateTimeField(allow_null=True)
    last_tick_duration_ms = serializers.FloatField(allow_null=True)
    last_launched = serializers.IntegerField()
    last_success_at = serializers.DateTimeField(allow_null=True)
    instance_id = serializers.CharField(allow_null=True)
    host = serializers.CharField(allow_null=True)
    errors = serializers.ListField(child=serializers.DictField())  # type: ignore[assignment]


class SupervisedProcessSerializer(serializers.Serializer):
    name = serializers.CharField()
    running = serializers.BooleanField()
    pid = serializers.IntegerField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    restarts = serializers.IntegerField()
    last_exit = serializers.CharField(allow_blank=True)
    last_exit_at = serializers.DateTimeField(allow_null=True)
    next_restart_at = serializers.DateTimeField(allow_null=True)


class SupervisorSerializer(serializers.Serializer):
    alive = serializers.BooleanField()
    pid = serializers.IntegerField(allow_null=True)
    host = serializers.CharField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)
    processes = SupervisedProcessSerializer(many=True)


class JobStepSerializer(serializers.Serializer):
    key = serializers.CharField()
    pool = serializers.CharField(allow_null=True, help_text="the step's pool when it has one")
    pools = serializers.DictField(
        child=serializers.IntegerField(), help_text="slots the step claims of each pool"
    )
    deps = serializers.ListField(child=serializers.CharField())


class BackfillHoldSerializer(serializers.Serializer):
    rule = serializers.CharField()
    message = serializers.CharField()
    runs = serializers.IntegerField()


class BackfillSerializer(serializers.Serializer):
    backfill_id = serializers.CharField()
    job_name = serializers.CharField()
    location = serializers.CharField()
    status = serializers.CharField(
        help_text="IN_PROGRESS, COMPLETED_SUCCESS, COMPLETED_FAILED, CANCELING or CANCELED"
    )
    partitions = serializers.IntegerField(help_text="how many partitions (one run each)")
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="runs per status")
    done = serializers.IntegerField(help_text="runs finished")
    tags = serializers.DictField(child=serializers.CharField())
    rerun_of = serializers.CharField(allow_null=True, help_text="the backfill this one re-runs")
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    canceled_at = serializers.DateTimeField(allow_null=True)
    holding = BackfillHoldSerializer(many=True, help_text="what holds its queued runs now")


class BackfillDetailSerializer(BackfillSerializer):
    partition_keys = serializers.ListField(child=serializers.CharField())
    runs = serializers.ListField(
        child=serializers.DictField(), help_text="run_id, partition, status of each run"
    )


class AutomationTickSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    scheduled_time = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField(help_text="REQUESTED, SKIPPED or FAILURE")
    message = serializers.CharField()
    run_ids = serializers.ListField(child=serializers.CharField())
    duration_ms = serializers.FloatField()


class AutomationSerializer(serializers.Serializer):
    """A schedule (cron_schedule, execution_timezone) or a sensor (minimum_interval_seconds)."""

    name = serializers.CharField()
    kind = serializers.CharField()
    job_name = serializers.CharField()
    location = serializers.CharField()
    status = serializers.CharField(help_text="RUNNING or STOPPED")
    default_status = serializers.CharField()
    description = serializers.CharField()
    last_handled = serializers.DateTimeField(allow_null=True)
    cursor = serializers.CharField(allow_null=True)
    next_tick = serializers.DateTimeField(allow_null=True)
    ticks = AutomationTickSerializer(many=True)
    cron_schedule = serializers.CharField(required=False)
    execution_timezone = serializers.CharField(required=False)
    minimum_interval_seconds = serializers.IntegerField(required=False)


class JobDefinitionSerializer(serializers.Serializer):
    name = serializers.CharField()
    partitions = serializers.CharField(
        allow_null=True, help_text="its partitions (e.g. daily from 2024-01-01), or null"
    )
    tags = serializers.DictField(child=serializers.CharField())
    description = serializers.CharField()
    default_run_config = serializers.DictField()
    steps = JobStepSerializer(many=True)


class JobSerializer(serializers.Serializer):
    location = serializers.CharField()
    error = serializers.CharField(allow_null=True)
    jobs = JobDefinitionSerializer(many=True)


class AuditSerializer(serializers.Serializer):
    actor = serializers.CharField()
    action = serializers.CharField()
    target = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)
    at = serializers.DateTimeField()


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


# --- troubleshooting: the doctor and the simulator ----------------------------------------
# The services build these dictionaries (`services.doctor.report`,
# `services.simulate.simulation_to_dict`).

STATUSES = ["ok", "warning", "problem"]


class DoctorActionSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text='"release_slots": free the slots of `run_id`')
    run_id = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]


class DoctorFindingSerializer(serializers.Serializer):
    check = serializers.CharField()
    status = serializers.ChoiceField(STATUSES)
    title = serializers.CharField()
    evidence = serializers.ListField(child=serializers.CharField())
    fix = serializers.CharField()
    actions = DoctorActionSerializer(many=True)


class DoctorReportSerializer(serializers.Serializer):
    """Every check; `status` is the worst of them."""

    status = serializers.ChoiceField(STATUSES)
    problems = serializers.IntegerField()
    warnings = serializers.IntegerField()
    findings = DoctorFindingSerializer(many=True)


class BlockingGateSerializer(serializers.Serializer):
    rule = serializers.CharField()
    subject = serializers.CharField()
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    passed = serializers.BooleanField()
    message = serializers.CharField()


class ReasonChangeSerializer(serializers.Serializer):
    """One queued run the change treats differently; a null gate means the next tick starts it."""

    run_id = serializers.CharField()
    today = BlockingGateSerializer(allow_null=True)
    proposed = BlockingGateSerializer(allow_null=True)


class OverLimitSerializer(serializers.Serializer):
    rule = serializers.CharField()
    subject = serializers.CharField()
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    holders = serializers.ListField(child=serializers.CharField())


class BottleneckSerializer(serializers.Serializer):
    rule = serializers.CharField()
    subject = serializers.CharField()
    waiting_now = serializers.IntegerField()
    waiting_after = serializers.IntegerField()


class QueueTimeoutSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    rule = serializers.CharField(help_text="the queue-age bound that decides for the run")
    subject = serializers.CharField(help_text='the tag of a by-tag bound ("team=growth"), or ""')
    seconds = serializers.IntegerField()
    waited_seconds = serializers.IntegerField()


class SimulationSerializer(serializers.Serializer):
    """The next tick now and under the change; runs over a lowered limit keep running."""

    launch_now = serializers.ListField(child=serializers.CharField())
    launch = serializers.ListField(child=serializers.CharField())
    newly_launched = serializers.ListField(child=serializers.CharField())
    no_longer_launched = serializers.ListField(child=serializers.CharField())
    waiting = serializers.DictField(
        child=BlockingGateSerializer(),
        help_text="run id -> the gate holding it (first 200 in queue order)",
    )
    waiting_total = serializers.IntegerField()
    changes = ReasonChangeSerializer(
        many=True,
        help_text="queued runs whose verdict differs from today's (first 200 in queue order)",
    )
    changes_total = serializers.IntegerField()
    over_limit = OverLimitSerializer(many=True)
    canceled_for_queue_age = QueueTimeoutSerializer(
        many=True,
        help_text="queued runs past a queue-age bound under the change: run monitoring "
        "cancels them at its next poll (first 200 in queue order)",
    )
    canceled_for_queue_age_total = serializers.IntegerField()
    canceled_for_queue_age_now = serializers.IntegerField(
        help_text="how many queued runs the current bounds already cancel"
    )
    bottlenecks = BottleneckSerializer(many=True)


class ConfigChangeWithSimulationSerializer(ConfigChangeSerializer):
    simulation = SimulationSerializer(required=False, help_text="only with dry_run")
