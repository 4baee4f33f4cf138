"""REST API: a second shell over the same services as the CLI and the dashboard.

Each view reads its body with a request serializer (`api.serializers`), calls one service
or query, and answers with the dictionaries the services build; refusals are answered by
`api.errors.exception_handler`.
"""

from __future__ import annotations

from typing import Any

import yaml
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from ..engine.config.export import to_instance_dict, to_instance_yaml
from ..engine.config.model import ParseResult
from ..engine.grammar import parse_integer
from ..engine.holds import HOLDS, parse_hold
from ..engine.submission import parse_tag_pair
from ..engine.types import RunStatus
from ..errors import InvalidInput, NotFound
from ..roles import can_change_limits, can_launch, can_see_secrets, can_see_tracebacks
from ..services import (
    automation,
    backfills,
    doctor,
    pool_report,
    pools,
    queries,
    run_queue,
    runs,
    tokens,
)
from ..services import config as config_service
from ..services import simulate as simulate_service
from ..services.audit import actor_name
from ..services.daemons import daemon_status, supervised_processes
from ..throttles import SubmitRateThrottle
from . import serializers as s

# Documented error answers (see `api.errors`).
BAD = {400: s.ErrorsSerializer}
MISSING = {404: s.DetailSerializer}
CONFLICT = {409: s.DetailSerializer}


class ReadOrLaunch(permissions.BasePermission):
    """Anyone logged in reads; writes need the operator role (launch_run)."""

    message = "launching, terminating or re-prioritising runs needs the operator or admin role"

    def has_permission(self, request: Any, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        return request.method in permissions.SAFE_METHODS or can_launch(request.user)


class ReadOrChangeLimits(permissions.BasePermission):
    """Anyone logged in reads; writes need the admin role (change_limits)."""

    message = "changing limits, pools or the configuration needs the admin role"

    def has_permission(self, request: Any, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        return request.method in permissions.SAFE_METHODS or can_change_limits(request.user)


def _body(serializer: type[Serializer], request: Request) -> dict[str, Any]:
    """The request's body as `serializer` reads it; a refusal answers 400 (`api.errors`)."""
    reader = serializer(data=request.data)
    reader.is_valid(raise_exception=True)
    return dict(reader.validated_data)


def _bool_param(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    # A misspelt dry_run must not apply the change.
    raise InvalidInput.one(name, f"{raw[:40]!r} is not a boolean: use 1/true or 0/false")


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = parse_integer(raw)
    except ValueError as exc:
        raise InvalidInput.one(name, str(exc)) from None
    if not 0 <= value <= maximum:
        raise InvalidInput.one(name, f"must be between 0 and {maximum}")
    return value


def _tag_filters(request: Request) -> dict[str, str]:
    tags = {}
    for pair in request.query_params.getlist("tag"):
        try:
            key, value = parse_tag_pair(pair)
        except ValueError as exc:
            raise InvalidInput.one("tag", str(exc)) from None
        tags[key] = value
    return tags


def _predict(**change: Any) -> dict[str, Any]:
    return simulate_service.simulation_to_dict(simulate_service.simulate(**change))


class RunList(APIView):
    permission_classes = [ReadOrLaunch]
    throttle_classes = [SubmitRateThrottle]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, many=True, enum=[x.value for x in RunStatus]),
            OpenApiParameter("tag", str, many=True, description="KEY=VALUE"),
            OpenApiParameter("job", str),
            OpenApiParameter(
                "held_by",
                str,
                enum=list(HOLDS),
                description="with status=QUEUED: only the runs this rule holds back now "
                "(max_queued_seconds: runs close to their queue-age bound)",
            ),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: s.RunPageSerializer, **BAD},
        operation_id="runs_list",
    )
    def get(self, request: Request) -> Response:
        """Runs, newest first; with `status=QUEUED` alone, in the order the next tick considers them."""
        statuses = request.query_params.getlist("status")
        bad = [x for x in statuses if x not in RunStatus.__members__]
        if bad:
            known = ", ".join(RunStatus.__members__)
            raise InvalidInput.one(
                "status", f"unknown status {bad[0][:40]!r}: expected one of {known}"
            )
        qs = queries.filter_runs(
            statuses, job=request.query_params.get("job"), tags=_tag_filters(request)
        )
        limit = _int_param(request, "limit", 50, 1000)
        offset = _int_param(request, "offset", 0, 10**9)
        hold = request.query_params.get("held_by")
        if hold is not None:
            try:
                hold = parse_hold(hold)
            except ValueError as exc:
                raise InvalidInput.one("held_by", str(exc)) from None
            if statuses != [RunStatus.QUEUED.value]:
                raise InvalidInput.one(
                    "held_by", "only queued runs are held back: ask for status=QUEUED alone"
                )
        page = queries.page_of_runs(qs, offset, limit, hold=hold)
        return Response(
            {
                "count": page.total,
                "results": [
                    queries.run_to_dict(
                        r, page.verdicts.get(r.run_id), start_estimates=page.estimates
                    )
                    for r in page.runs
                ],
            }
        )

    @extend_schema(
        request=s.SubmitSerializer,
        responses={201: s.RunSerializer, **BAD, **CONFLICT, 429: s.DetailSerializer},
    )
    def post(self, request: Request) -> Response:
        """Submit a run to the queue."""
        data = _body(s.SubmitSerializer, request)
        run = runs.submit(
            data["job"], data.get("tags"), data.get("run_config"), actor=actor_name(request.user)
        )
        return Response(queries.run_to_dict(run), status=status.HTTP_201_CREATED)


class RunDetail(APIView):
    permission_classes = [ReadOrLaunch]

    @extend_schema(responses={200: s.RunDetailSerializer, **BAD, **MISSING})
    def get(self, request: Request, run_id: str) -> Response:
        """A run with its steps, wait history and, if queued, the full explanation. Every
        `{run_id}` of the API may be a unique prefix of at least 8 characters; a prefix
        of several runs is refused (400) with their ids."""
        run = runs.get_run(run_id)
        verdict = run_queue.explain(run.run_id) if run.status == RunStatus.QUEUED else None
        user = request.user
        return Response(
            queries.run_to_dict(
                run,
                verdict,
                steps=True,
                secrets=can_see_secrets(user),
                tracebacks=can_see_tracebacks(user),
            )
        )


class RunTerminate(APIView):
    permission_classes = [ReadOrLaunch]

    @extend_schema(
        request=s.TerminateSerializer,
        responses={200: s.RunSerializer, **BAD, **MISSING, **CONFLICT},
    )
    def post(self, request: Request, run_id: str) -> Response:
        """Cancel a queued run at once, or ask a running one to stop; `force` marks it CANCELED now."""
        force = _body(s.TerminateSerializer, request)["force"]
        run = runs.terminate(run_id, actor_name(request.user), force=force)
        return Response(queries.run_to_dict(run))


class RunPriority(APIView):
    permission_classes = [ReadOrLaunch]

    @extend_schema(
        request=s.PrioritySerializer,
        responses={200: s.RunSerializer, **BAD, **MISSING, **CONFLICT},
    )
    def post(self, request: Request, run_id: str) -> Response:
        """Change a queued run's priority (audited)."""
        priority = _body(s.PrioritySerializer, request)["priority"]
        run = runs.set_priority(run_id, priority, actor_name(request.user))
        return Response(queries.run_to_dict(run))


class RunFreeSlots(APIView):
    permission_classes = [ReadOrChangeLimits]

    @extend_schema(
        request=s.FreeSlotsSerializer,
        responses={200: s.FreedSerializer, **BAD, **MISSING, **CONFLICT},
    )
    def post(self, request: Request, run_id: str) -> Response:
        """Free the pool slots (and waiting entries) of a run, or of one of its steps; audited.
        A whole run's slots are refused (409) while it is in progress: terminate it first."""
        step_key = _body(s.FreeSlotsSerializer, request).get("step_key")
        run = runs.get_run(run_id)
        freed = pools.free_run(run, step_key=step_key, actor=actor_name(request.user))
        return Response({"freed": freed})


class BackfillList(APIView):
    permission_classes = [ReadOrLaunch]
    throttle_classes = [SubmitRateThrottle]

    @extend_schema(
        parameters=[OpenApiParameter("limit", int)],
        responses={200: s.BackfillSerializer(many=True), **BAD},
    )
    def get(self, request: Request) -> Response:
        """Backfills, newest first, with their progress."""
        limit = _int_param(request, "limit", 100, 1000)
        return Response([backfills.backfill_to_dict(p) for p in backfills.list_backfills(limit)])

    @extend_schema(
        request=s.BackfillLaunchSerializer,
        responses={201: s.BackfillSerializer, **BAD, **CONFLICT, 429: s.DetailSerializer},
    )
    def post(self, request: Request) -> Response:
        """Launch a backfill: one queued run per partition (tags `dagster/backfill` and
        `dagster/partition`), all or none; 409 when they would pass max_queued_runs."""
        data = _body(s.BackfillLaunchSerializer, request)
        backfill = backfills.launch(
            data["job"],
            partitions=data.get("partitions"),
            start=data.get("from"),
            end=data.get("to"),
            all_partitions=data["all"],
            tags=data.get("tags"),
            run_config=data.get("run_config"),
            actor=actor_name(request.user),
        )
        progress = backfills.progress(backfill)
        return Response(backfills.backfill_to_dict(progress), status=status.HTTP_201_CREATED)


class BackfillDetail(APIView):
    permission_classes = [ReadOrLaunch]

    @extend_schema(responses={200: s.BackfillDetailSerializer, **MISSING})
    def get(self, request: Request, backfill_id: str) -> Response:
        """A backfill with its partitions, its runs and what holds its queued runs."""
        backfill = backfills.get(backfill_id)
        return Response(backfills.backfill_detail(backfills.progress(backfill, holding=True)))


class BackfillCancel(APIView):
    permission_classes = [ReadOrLaunch]

    @extend_schema(
        request=None, responses={200: s.BackfillSerializer, **BAD, **MISSING, **CONFLICT}
    )
    def post(self, request: Request, backfill_id: str) -> Response:
        """Cancel: queued runs are canceled at once, runs in progress asked to stop (audited)."""
        progress = backfills.cancel(backfill_id, actor_name(request.user))
        return Response(backfills.backfill_to_dict(progress))


class BackfillRerunFailed(APIView):
    permission_classes = [ReadOrLaunch]

    @extend_schema(
        request=None, responses={201: s.BackfillSerializer, **BAD, **MISSING, **CONFLICT}
    )
    def post(self, request: Request, backfill_id: str) -> Response:
        """A new backfill of the partitions whose latest run failed or was canceled."""
        backfill = backfills.rerun_failed(backfill_id, actor_name(request.user))
        progress = backfills.progress(backfill)
        return Response(backfills.backfill_to_dict(progress), status=status.HTTP_201_CREATED)


class AutomationList(APIView):
    """Schedules or sensors (`kind`), with status, next tick and recent ticks."""

    permission_classes = [ReadOrLaunch]
    kind = "schedule"

    @extend_schema(responses=s.AutomationSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(automation.automation_list(self.kind))


class AutomationDetail(APIView):
    permission_classes = [ReadOrLaunch]
    kind = "schedule"

    @extend_schema(responses={200: s.AutomationSerializer, **MISSING})
    def get(self, request: Request, name: str) -> Response:
        return Response(automation.automation_detail(self.kind, name))


class AutomationSwitch(APIView):
    """Start or stop a schedule or sensor (audited); operators, like launching runs."""

    permission_classes = [ReadOrLaunch]
    kind = "schedule"
    running = True

    @extend_schema(
        request=None, responses={200: s.AutomationSerializer, **BAD, **MISSING, **CONFLICT}
    )
    def post(self, request: Request, name: str) -> Response:
        automation.set_status(self.kind, name, self.running, actor_name(request.user))
        return Response(automation.automation_detail(self.kind, name))


# With `dry_run` a pool write answers with the simulator's prediction instead.
POOL_OR_SIMULATION = PolymorphicProxySerializer(
    component_name="PoolOrSimulation",
    serializers=[s.PoolSerializer, s.SimulationSerializer],
    resource_type_field_name=None,
)


class PoolList(APIView):
    permission_classes = [ReadOrChangeLimits]

    @extend_schema(responses=s.PoolSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Pools that have a limit, with slots held and steps waiting."""
        return Response(queries.pool_list())

    @extend_schema(
        request=s.PoolWriteSerializer,
        parameters=[OpenApiParameter("dry_run", bool)],
        responses={201: s.PoolSerializer, 200: s.SimulationSerializer, **BAD},
    )
    def post(self, request: Request) -> Response:
        """Create a pool limit (or set it if it exists); `dry_run` answers with the simulator's
        prediction of the next tick (see /api/simulate/) and saves nothing."""
        data = _body(s.PoolWriteSerializer, request)
        if _bool_param(request, "dry_run"):
            return Response(_predict(pool_limits={data.get("key"): data["limit"]}))
        # The key is checked by the service (`pools.validate_key`), as from every shell.
        pool = pools.set_limit(data.get("key"), data["limit"], actor_name(request.user))  # type: ignore[arg-type]
        return Response(queries.pool_detail(pool.key), status=status.HTTP_201_CREATED)


class PoolDetail(APIView):
    permission_classes = [ReadOrChangeLimits]

    @extend_schema(responses={200: s.PoolReportSerializer, **MISSING})
    def get(self, request: Request, key: str) -> Response:
        """The pool page as JSON: its limit in words, holders, waiters in the order they
        get slots, queued runs using it, jobs, limit history, waits of the last hour/day.
        A pool without a limit that code uses or a step claims answers too (limit null)."""
        report = pool_report.pool_report(key, timezone.now())
        if report is None:
            raise NotFound(f"pool {key!r} has no limit and no loaded code or step uses it")
        return Response(pool_report.report_to_dict(report))

    @extend_schema(
        request=s.PoolLimitSerializer,
        parameters=[OpenApiParameter("dry_run", bool)],
        responses={200: POOL_OR_SIMULATION, **BAD},
    )
    def put(self, request: Request, key: str) -> Response:
        """Set the pool's limit (creating the pool's row if it had none); `dry_run` answers
        with the simulator's prediction of the next tick and saves nothing."""
        limit = _body(s.PoolLimitSerializer, request)["limit"]
        if _bool_param(request, "dry_run"):
            return Response(_predict(pool_limits={key: limit}))
        pool = pools.set_limit(key, limit, actor_name(request.user))
        return Response(queries.pool_detail(pool.key))

    patch = put

    @extend_schema(responses={204: None, **MISSING})
    def delete(self, request: Request, key: str) -> Response:
        """Remove the limit: the pool becomes unlimited (or follows the default limit)."""
        pools.delete_pool(key, actor_name(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _config_change(
    result: ParseResult | None, diff: dict, dry_run: bool, simulation: dict | None
) -> dict[str, Any]:
    """The answer to a configuration change: the configuration after it (or, for a dry
    run, as it would be), what changed, and what the file said besides."""
    current = (
        result.config if dry_run and result and result.config else config_service.current_config()
    )
    return {
        "document": to_instance_dict(current),
        "yaml": to_instance_yaml(current),
        "changes": {k: {"old": v[0], "new": v[1]} for k, v in diff.items()},
        "ignored_sections": list(result.ignored_sections) if result else [],
        "warnings": [{"path": w.path, "message": w.message} for w in result.warnings]
        if result
        else [],
        "dry_run": dry_run,
        # What the next tick would launch under the change (nothing is saved).
        **({"simulation": simulation} if simulation is not None else {}),
    }


class ConfigView(APIView):
    permission_classes = [ReadOrChangeLimits]

    @extend_schema(responses=s.ConfigSerializer)
    def get(self, request: Request) -> Response:
        """The effective configuration, as a document and as `dagster.yaml` text."""
        current = config_service.current_config()
        hide = not can_see_secrets(request.user)
        return Response(
            {
                "document": to_instance_dict(current, hide_secrets=hide),
                "yaml": to_instance_yaml(current, hide_secrets=hide),
                "sources": config_service.sources(),
            }
        )

    @extend_schema(
        request=s.ConfigWriteSerializer,
        parameters=[OpenApiParameter("dry_run", bool)],
        responses={200: s.ConfigChangeWithSimulationSerializer, **BAD},
    )
    def put(self, request: Request) -> Response:
        """Replace the configuration with a `dagster.yaml` (as `yaml` text or a `document`)."""
        data = _body(s.ConfigWriteSerializer, request)
        dry_run = _bool_param(request, "dry_run")
        text = data["yaml"] if "yaml" in data else yaml.safe_dump(data["document"])
        result, diff = config_service.load_yaml(text, actor_name(request.user), dry_run=dry_run)
        simulation = _predict(yaml_text=text, trusted=True) if dry_run else None
        return Response(_config_change(result, diff, dry_run, simulation))

    @extend_schema(
        request=s.ConfigSettingsSerializer,
        parameters=[OpenApiParameter("dry_run", bool)],
        responses={200: s.ConfigChangeWithSimulationSerializer, **BAD},
    )
    def patch(self, request: Request) -> Response:
        """Change settings by name (`{"settings": {"max_concurrent_runs": 3}}`), as the
        Concurrency page and `manage.py instance set` do; each is written where the stored
        file keeps it."""
        changes = _body(s.ConfigSettingsSerializer, request)["settings"]
        dry_run = _bool_param(request, "dry_run")
        changed, diff = config_service.edit_settings(
            changes, actor_name(request.user), source="api", dry_run=dry_run
        )
        simulation = _predict(settings=changes, trusted=True) if dry_run else None
        result = ParseResult(changed) if dry_run else None
        return Response(_config_change(result, diff, dry_run, simulation))


class DaemonList(APIView):
    @extend_schema(responses=s.DaemonSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Health of the run-queue and run-monitoring daemons."""
        return Response(daemon_status(timezone.now(), tracebacks=can_see_tracebacks(request.user)))


class DaemonProcesses(APIView):
    @extend_schema(responses={200: s.SupervisorSerializer, 204: None})
    def get(self, request: Request) -> Response:
        """The processes `manage.py dev` supervises on this machine (the embedded default) and
        their restarts, as the Daemons page shows them; 204 when no supervisor ever ran here
        (a deployment whose processes systemd or Kubernetes keep up)."""
        state = supervised_processes(timezone.now())
        if state is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(s.SupervisorSerializer(state).data)


class JobList(APIView):
    @extend_schema(responses=s.JobSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Jobs of every code location, and locations that failed to load."""
        return Response(queries.jobs())


class AuditList(APIView):
    @extend_schema(responses=s.AuditSerializer(many=True))
    def get(self, request: Request) -> Response:
        """The audit log, newest first (read-only: entries cannot be edited or deleted)."""
        return Response(queries.audit_entries(_int_param(request, "limit", 100, 1000)))


class DoctorView(APIView):
    """The doctor's checks; `status` is the worst finding (ok < warning < problem)."""

    @extend_schema(responses=s.DoctorReportSerializer)
    def get(self, request: Request) -> Response:
        return Response(doctor.report(doctor.diagnose()))


class SimulateView(APIView):
    """What the next tick would launch under a change; nothing is saved."""

    @extend_schema(
        request=s.SimulateRequestSerializer,
        responses={200: s.SimulationSerializer, **BAD},
    )
    def post(self, request: Request) -> Response:
        data = _body(s.SimulateRequestSerializer, request)
        simulation = simulate_service.simulate(
            settings=data.get("settings"),
            yaml_text=data.get("yaml"),
            pool_limits=data.get("pools"),
            trusted=can_change_limits(request.user),
        )
        return Response(simulate_service.simulation_to_dict(simulation))


class TokenView(APIView):
    """Create (POST) or revoke (DELETE) the calling user's API token.

    Only a digest of a token is stored (django-rest-knox), so a token is shown once, when
    it is created; creating one replaces the user's previous token.
    """

    @extend_schema(request=None, responses=s.TokenSerializer)
    def post(self, request: Request) -> Response:
        """A new token for you (shown only now); your previous token stops working."""
        return Response({"token": tokens.create_token(request.user)})  # type: ignore[arg-type]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        """Revoke your token: requests sending it are answered 401 from now on."""
        tokens.revoke_token(request.user)  # type: ignore[arg-type]
        return Response(status=status.HTTP_204_NO_CONTENT)
