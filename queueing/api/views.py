"""REST API: a second shell over the same services as the CLI and the dashboard."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from knox.models import AuthToken
from rest_framework import permissions, status
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..engine.config.export import to_instance_dict, to_instance_yaml
from ..engine.grammar import parse_integer
from ..engine.submission import parse_tag_pair
from ..engine.types import ConfigError, RunStatus
from ..errors import Conflict, InvalidInput, NotFound
from ..locations import get_workspace
from ..models import AuditEntry, Pool
from ..roles import can_change_limits, can_launch, can_see_secrets, can_see_tracebacks
from ..services import config as config_service
from ..services import doctor, pools, run_queue, runs
from ..services import simulate as simulate_service
from ..services.audit import actor_name
from ..services.daemons import daemon_status
from ..services.queries import filter_runs, page_of_runs, run_to_dict
from . import serializers as s
from .parsers import LimitedJSONParser, RefusedBody
from .throttles import SubmitRateThrottle

# Documented error answers (see `error_response`).
BAD = {400: s.ErrorsSerializer}
MISSING = {404: s.DetailSerializer}
CONFLICT = {409: s.DetailSerializer}


class ReadOrLaunch(permissions.BasePermission):
    """Anyone logged in reads; writes need the operator role (launch_run)."""

    message = "launching, terminating or re-prioritising runs needs the operator or admin role"

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        return request.method in permissions.SAFE_METHODS or can_launch(request.user)


class ReadOrChangeLimits(permissions.BasePermission):
    """Anyone logged in reads; writes need the admin role (change_limits)."""

    message = "changing limits, pools or the configuration needs the admin role"

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        return request.method in permissions.SAFE_METHODS or can_change_limits(request.user)


def error_response(exc: Exception) -> Response:
    if isinstance(exc, InvalidInput):
        return Response(exc.as_json(), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, NotFound):
        return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, Conflict):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    raise exc


class ServiceView(APIView):
    """Bodies are JSON objects; service errors become `{"errors": [...]}` / `{"detail": ...}`."""

    parser_classes = [LimitedJSONParser]

    def handle_exception(self, exc):
        if isinstance(exc, RefusedBody):
            exc = InvalidInput(exc.errors)
        elif isinstance(exc, RequestDataTooBig):
            # Django would answer with an HTML page; API clients need the field and the rule.
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            exc = InvalidInput.one("body", f"request body is larger than {limit} bytes")
        elif isinstance(exc, ParseError):
            exc = InvalidInput.one("body", str(exc.detail))
        if isinstance(exc, InvalidInput | NotFound | Conflict):
            return error_response(exc)
        return super().handle_exception(exc)


def _body(request: Request, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object sent; InvalidInput for anything else, or for fields not in `allowed`."""
    data = request.data
    if not isinstance(data, dict):
        raise InvalidInput.one("body", "expected a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        expected = ", ".join(allowed)
        raise InvalidInput([ConfigError(k, f"unknown field: expected {expected}") for k in unknown])
    # Depth, size, NUL and lone surrogates were refused by the parser (LimitedJSONParser).
    return data


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


def _strict_int(data: dict, name: str, rule: str) -> int:
    """A JSON integer (not a boolean, float or string) from the body, or InvalidInput."""
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        kind = "null" if value is None else type(value).__name__
        raise InvalidInput.one(name, f"expected an integer {rule}, got {kind}")
    return value


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


class RunList(ServiceView):
    permission_classes = [ReadOrLaunch]
    throttle_classes = [SubmitRateThrottle]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, many=True, enum=[x.value for x in RunStatus]),
            OpenApiParameter("tag", str, many=True, description="KEY=VALUE"),
            OpenApiParameter("job", str),
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
        qs = filter_runs(statuses, job=request.query_params.get("job"), tags=_tag_filters(request))
        limit = _int_param(request, "limit", 50, 1000)
        offset = _int_param(request, "offset", 0, 10**9)
        page = page_of_runs(qs, offset, limit)
        return Response(
            {
                "count": page.total,
                "results": [run_to_dict(r, page.verdicts.get(r.run_id)) for r in page.runs],
            }
        )

    @extend_schema(
        request=s.SubmitSerializer,
        responses={201: s.RunSerializer, **BAD, **CONFLICT, 429: s.DetailSerializer},
    )
    def post(self, request: Request) -> Response:
        """Submit a run to the queue."""
        data = _body(request, ("job", "tags", "run_config"))
        job = data.get("job")
        if not isinstance(job, str) or not job:
            raise InvalidInput.one("job", "required: the name of a job")
        run = runs.submit(
            job, data.get("tags"), data.get("run_config"), actor=actor_name(request.user)
        )
        return Response(run_to_dict(run), status=status.HTTP_201_CREATED)


class RunDetail(ServiceView):
    permission_classes = [ReadOrLaunch]

    @extend_schema(responses={200: s.RunDetailSerializer, **MISSING})
    def get(self, request: Request, run_id: str) -> Response:
        """A run with its steps, wait history and, if queued, the full explanation."""
        run = runs.get_run(run_id)
        verdict = run_queue.explain(run_id) if run.status == RunStatus.QUEUED else None
        user = request.user
        return Response(
            run_to_dict(
                run,
                verdict,
                steps=True,
                secrets=can_see_secrets(user),
                tracebacks=can_see_tracebacks(user),
            )
        )


class RunTerminate(ServiceView):
    permission_classes = [ReadOrLaunch]

    @extend_schema(
        request=s.TerminateSerializer,
        responses={200: s.RunSerializer, **BAD, **MISSING, **CONFLICT},
    )
    def post(self, request: Request, run_id: str) -> Response:
        """Cancel a queued run at once, or ask a running one to stop; `force` marks it CANCELED now."""
        force = _body(request, ("force",)).get("force", False)
        if not isinstance(force, bool):
            raise InvalidInput.one("force", "expected true or false")
        run = runs.terminate(run_id, actor_name(request.user), force=force)
        return Response(run_to_dict(run))


class RunPriority(ServiceView):
    permission_classes = [ReadOrLaunch]

    @extend_schema(
        request=s.PrioritySerializer,
        responses={200: s.RunSerializer, **BAD, **MISSING, **CONFLICT},
    )
    def post(self, request: Request, run_id: str) -> Response:
        """Change a queued run's priority (audited)."""
        data = _body(request, ("priority",))
        if "priority" not in data:
            raise InvalidInput.one("priority", "required: an integer")
        priority = _strict_int(data, "priority", "in the signed 32-bit range")
        run = runs.set_priority(run_id, priority, actor_name(request.user))
        return Response(run_to_dict(run))


class RunFreeSlots(ServiceView):
    permission_classes = [ReadOrChangeLimits]

    @extend_schema(
        request=s.FreeSlotsSerializer, responses={200: s.FreedSerializer, **BAD, **MISSING}
    )
    def post(self, request: Request, run_id: str) -> Response:
        """Free the pool slots (and waiting entries) of a run, or of one of its steps; audited."""
        step_key = _body(request, ("step_key",)).get("step_key")
        run = runs.get_run(run_id)
        freed = pools.free_run(run, step_key=step_key, actor=actor_name(request.user))
        return Response({"freed": freed})


def pool_to_dict(pool: Pool, usage: dict) -> dict:
    return {
        "key": pool.key,
        "limit": pool.limit,
        "from_default": pool.from_default,
        "held": usage.get(pool.key, {}).get("held", 0),
        "waiting": usage.get(pool.key, {}).get("waiting", 0),
    }


# With `dry_run` a pool write answers with the simulator's prediction instead.
POOL_OR_SIMULATION = PolymorphicProxySerializer(
    component_name="PoolOrSimulation",
    serializers=[s.PoolSerializer, s.SimulationSerializer],
    resource_type_field_name=None,
)


def _predict(**change) -> dict:
    return simulate_service.simulation_to_dict(simulate_service.simulate(**change))


class PoolList(ServiceView):
    permission_classes = [ReadOrChangeLimits]

    @extend_schema(responses=s.PoolSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Pools that have a limit, with slots held and steps waiting."""
        usage = pools.pool_usage()
        return Response([pool_to_dict(p, usage) for p in Pool.objects.all()])

    @extend_schema(
        request=s.PoolWriteSerializer,
        parameters=[OpenApiParameter("dry_run", bool)],
        responses={201: s.PoolSerializer, 200: s.SimulationSerializer, **BAD},
    )
    def post(self, request: Request) -> Response:
        """Create a pool limit (or set it if it exists); `dry_run` answers with the simulator's
        prediction of the next tick (see /api/simulate/) and saves nothing."""
        data = _body(request, ("key", "limit"))
        if "limit" not in data:
            raise InvalidInput.one("limit", "required: an integer between 0 and 1000")
        limit = _strict_int(data, "limit", "between 0 and 1000")
        if _bool_param(request, "dry_run"):
            return Response(_predict(pool_limits={data.get("key"): limit}))
        pool = pools.set_limit(data.get("key"), limit, actor_name(request.user))
        return Response(pool_to_dict(pool, pools.pool_usage()), status=status.HTTP_201_CREATED)


class PoolDetail(ServiceView):
    permission_classes = [ReadOrChangeLimits]

    @extend_schema(responses={200: s.PoolSerializer, **MISSING})
    def get(self, request: Request, key: str) -> Response:
        pool = Pool.objects.filter(key=key).first()
        if pool is None:
            raise NotFound(f"pool {key!r} has no limit (it is unlimited)")
        return Response(pool_to_dict(pool, pools.pool_usage()))

    @extend_schema(
        request=s.PoolLimitSerializer,
        parameters=[OpenApiParameter("dry_run", bool)],
        responses={200: POOL_OR_SIMULATION, **BAD},
    )
    def put(self, request: Request, key: str) -> Response:
        """Set the pool's limit (creating the pool's row if it had none); `dry_run` answers
        with the simulator's prediction of the next tick and saves nothing."""
        data = _body(request, ("limit",))
        if "limit" not in data:
            raise InvalidInput.one("limit", "required: an integer between 0 and 1000")
        limit = _strict_int(data, "limit", "between 0 and 1000")
        if _bool_param(request, "dry_run"):
            return Response(_predict(pool_limits={key: limit}))
        pool = pools.set_limit(key, limit, actor_name(request.user))
        return Response(pool_to_dict(pool, pools.pool_usage()))

    patch = put

    @extend_schema(responses={204: None, **MISSING})
    def delete(self, request: Request, key: str) -> Response:
        """Remove the limit: the pool becomes unlimited (or follows the default limit)."""
        pools.delete_pool(key, actor_name(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConfigView(ServiceView):
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
        data = _body(request, ("yaml", "document"))
        if ("yaml" in data) == ("document" in data):
            raise InvalidInput.one(
                "body", "send exactly one of 'yaml' (text) or 'document' (object)"
            )
        dry_run = _bool_param(request, "dry_run")
        if "yaml" in data:
            if not isinstance(data["yaml"], str):
                raise InvalidInput.one("yaml", "expected the text of a dagster.yaml")
            text = data["yaml"]
        else:
            import yaml

            if not isinstance(data["document"], dict):
                raise InvalidInput.one("document", "expected an object")
            text = yaml.safe_dump(data["document"])
        result, diff = config_service.load_yaml(text, actor_name(request.user), dry_run=dry_run)
        current = result.config if dry_run else config_service.current_config()
        return Response(
            {
                "document": to_instance_dict(current),
                "yaml": to_instance_yaml(current),
                "changes": {k: {"old": v[0], "new": v[1]} for k, v in diff.items()},
                "ignored_sections": list(result.ignored_sections),
                "warnings": [{"path": w.path, "message": w.message} for w in result.warnings],
                "dry_run": dry_run,
                # What the next tick would launch under the new file (nothing is saved).
                **({"simulation": _predict(yaml_text=text, trusted=True)} if dry_run else {}),
            }
        )


class DaemonList(ServiceView):
    @extend_schema(responses=s.DaemonSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Health of the run-queue and run-monitoring daemons."""
        return Response(daemon_status(timezone.now(), tracebacks=can_see_tracebacks(request.user)))


class JobList(ServiceView):
    @extend_schema(responses=s.JobSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Jobs of every code location, and locations that failed to load."""
        workspace = get_workspace()
        data = []
        for location in workspace.locations:
            if location.error:
                data.append({"location": location.name, "error": location.error, "jobs": []})
                continue
            data.append(
                {
                    "location": location.name,
                    "error": None,
                    "jobs": [
                        {
                            "name": job.name,
                            "tags": dict(job.tags),
                            "description": job.description or "",
                            "default_run_config": job.default_run_config or {},
                            "steps": [
                                {"key": st.key, "pool": st.pool, "deps": list(st.deps)}
                                for st in job.plan().steps
                            ],
                        }
                        for job in location.defs.jobs
                    ],
                }
            )
        return Response(data)


class AuditList(ServiceView):
    @extend_schema(responses=s.AuditSerializer(many=True))
    def get(self, request: Request) -> Response:
        """The audit log, newest first (read-only: entries cannot be edited or deleted)."""
        limit = _int_param(request, "limit", 100, 1000)
        return Response(
            [
                {
                    "actor": e.actor,
                    "action": e.action,
                    "target": e.target,
                    "old": e.old_value,
                    "new": e.new_value,
                    "at": e.created_at,
                }
                for e in AuditEntry.objects.all()[:limit]
            ]
        )


class DoctorView(ServiceView):
    """The doctor's checks; `status` is the worst finding (ok < warning < problem)."""

    @extend_schema(responses=s.DoctorReportSerializer)
    def get(self, request: Request) -> Response:
        return Response(doctor.report(doctor.diagnose()))


class SimulateView(ServiceView):
    """What the next tick would launch under a change; nothing is saved."""

    @extend_schema(
        request=s.SimulateRequestSerializer,
        responses={200: s.SimulationSerializer, **BAD},
    )
    def post(self, request: Request) -> Response:
        data = request.data
        if not isinstance(data, dict):
            raise InvalidInput.one("body", "expected a JSON object")
        unknown = set(data) - {"settings", "yaml", "pools"}
        if unknown:
            raise InvalidInput.one(
                sorted(unknown)[0], "unknown field: expected settings, yaml, pools"
            )
        text = data.get("yaml")
        if text is not None and not isinstance(text, str):
            raise InvalidInput.one("yaml", "expected the text of a dagster.yaml")
        simulation = simulate_service.simulate(
            settings=data.get("settings"),
            yaml_text=text,
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
        with transaction.atomic():
            AuthToken.objects.filter(user=request.user).delete()
            _, token = AuthToken.objects.create(user=request.user, expiry=None)
        return Response({"token": token})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        """Revoke your token: requests sending it are answered 401 from now on."""
        AuthToken.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
