"""OpenAPI shapes of the doctor and the simulator (documentation only: the services build
the dictionaries, `services.doctor.report` and `services.simulate.simulation_to_dict`)."""

from __future__ import annotations

from rest_framework import serializers

from .api.serializers import ConfigChangeSerializer

STATUSES = ["ok", "warning", "problem"]


class DoctorActionSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text='"release_slots": free the slots of `run_id`')
    run_id = serializers.CharField()
    label = serializers.CharField()


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
    over_limit = OverLimitSerializer(many=True)
    bottlenecks = BottleneckSerializer(many=True)


class SimulateRequestSerializer(serializers.Serializer):
    settings = serializers.DictField(
        required=False, help_text='settings by name, e.g. {"max_concurrent_runs": 3}'
    )
    yaml = serializers.CharField(required=False, help_text="a whole dagster.yaml")
    pools = serializers.DictField(
        required=False, help_text='pool limits, e.g. {"api": 2}; null removes a limit'
    )


class ConfigChangeWithSimulationSerializer(ConfigChangeSerializer):
    simulation = SimulationSerializer(required=False, help_text="only with dry_run")
