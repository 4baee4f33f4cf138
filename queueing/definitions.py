"""The job-definition API of code locations, with the names Dagster users know.

A code location is a module that builds `defs = Definitions(assets=[...], jobs=[...])` at
import time. Everything a definition can get wrong (a pool that conflicts with the legacy
concurrency-key tag, a bad `dagster/priority`, a cycle, a duplicate name) raises
`DefinitionError` then, so mistakes surface when the location loads, not in a run.

Plain Python: importable without Django being configured.

    @op(pool="redshift")
    def extract(context):
        context.log.info("extracting")
        return [1, 2, 3]

    @op
    def load(rows): ...

    @job(tags={"database": "redshift"})
    def etl():
        load(extract())
"""

from __future__ import annotations

import contextvars
import copy
import functools
import inspect
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from queueing.engine.automation import (
    AutomationError,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    schedule,
    sensor,
)
from queueing.engine.partitions import (
    PARTITION_TAG,
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    PartitionError,
    PartitionsDefinition,
    StaticPartitionsDefinition,
    TimeWindowPartitionsDefinition,
)
from queueing.engine.plan import (
    ExecutionPlan,
    PlanError,
    PlanStep,
    build_plan,
    parse_priority_tag,
    validate_plan,
)
from queueing.engine.pools import step_demand
from queueing.engine.submission import merge_run_config
from queueing.engine.types import CONCURRENCY_KEY_TAG, PRIORITY_TAG

__all__ = [
    "AssetExecutionContext",
    "AssetsDefinition",
    "AutomationError",
    "CONCURRENCY_KEY_TAG",
    "DailyPartitionsDefinition",
    "DefaultScheduleStatus",
    "DefaultSensorStatus",
    "HourlyPartitionsDefinition",
    "MonthlyPartitionsDefinition",
    "PartitionsDefinition",
    "RunRequest",
    "ScheduleDefinition",
    "ScheduleEvaluationContext",
    "SensorDefinition",
    "SensorEvaluationContext",
    "SkipReason",
    "StaticPartitionsDefinition",
    "TimeWindowPartitionsDefinition",
    "DefinitionError",
    "Definitions",
    "JobDefinition",
    "OpDefinition",
    "OpExecutionContext",
    "OutputHandle",
    "PartitionError",
    "StepContext",
    "UnresolvedAssetJob",
    "asset",
    "define_asset_job",
    "job",
    "merge_run_config",
    "op",
    "schedule",
    "sensor",
]

_NAME = re.compile(r"[A-Za-z0-9_]+")
_CONTEXT_PARAMS = ("context", "_context")


class DefinitionError(Exception):
    """A definition that cannot be loaded. `errors` lists every problem found, one a line."""

    def __init__(self, message: str, errors: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors) if errors is not None else [message]


# ---------------------------------------------------------------------------------------
# Checks shared by ops, assets and jobs


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DefinitionError(
            f"{kind} name {name!r} is invalid: use letters, digits and underscores only"
        )
    return name


def _check_tags(owner: str, tags: Any, what: str = "tags") -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise DefinitionError(f"{owner}: {what} must be a mapping, got {type(tags).__name__}")
    for key, value in tags.items():
        if not isinstance(key, str) or not key:
            raise DefinitionError(f"{owner}: tag key {key!r} must be a non-empty string")
        if not isinstance(value, str):
            raise DefinitionError(
                f"{owner}: tag '{key}' must have a string value, got {type(value).__name__}"
            )
    return dict(tags)


def _check_priority(owner: str, tags: Mapping[str, str]) -> int:
    if PRIORITY_TAG not in tags:
        return 0
    try:
        return parse_priority_tag(tags[PRIORITY_TAG])
    except ValueError as exc:
        raise DefinitionError(f"{owner}: {exc}") from None


def _resolve_pool(owner: str, pool: Any, tags: Mapping[str, str]) -> str | None:
    if pool is not None and (not isinstance(pool, str) or not pool):
        raise DefinitionError(f"{owner}: pool must be a non-empty string, got {pool!r}")
    legacy = tags.get(CONCURRENCY_KEY_TAG)
    if legacy is not None and not legacy:
        raise DefinitionError(f"{owner}: tag '{CONCURRENCY_KEY_TAG}' must not be empty")
    if pool is not None and legacy is not None and pool != legacy:
        raise DefinitionError(
            f"{owner}: pool '{pool}' conflicts with the concurrency key tag '{legacy}'"
        )
    return pool if pool is not None else legacy


def _resolve_demand(
    owner: str, pool: Any, pool_slots: Any, pools: Any, tags: Mapping[str, str]
) -> dict[str, int]:
    """The slots a step claims of each pool (`engine.pools.step_demand`), or a
    DefinitionError naming the argument and the rule."""
    resolved = _resolve_pool(owner, pool, tags)
    try:
        return step_demand(resolved, pool_slots, pools)
    except ValueError as exc:
        raise DefinitionError(f"{owner}: {exc}") from None


def _check_config(owner: str, config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise DefinitionError(f"{owner}: config must be a mapping, got {type(config).__name__}")
    return copy.deepcopy(dict(config))


def _check_partitions(owner: str, partitions_def: Any) -> PartitionsDefinition | None:
    if partitions_def is None or isinstance(partitions_def, PartitionsDefinition):
        return partitions_def
    raise DefinitionError(
        f"{owner}: partitions_def must be a PartitionsDefinition "
        f"(StaticPartitionsDefinition, DailyPartitionsDefinition, ...), "
        f"got {type(partitions_def).__name__}"
    )


def _parameters(owner: str, fn: Callable[..., Any]) -> tuple[bool, list[inspect.Parameter]]:
    """Whether `fn` takes a context first, and its other parameters (its inputs)."""
    if not callable(fn):
        raise DefinitionError(f"{owner}: expected a function, got {type(fn).__name__}")
    params = list(inspect.signature(fn).parameters.values())
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise DefinitionError(f"{owner}: *args and **kwargs parameters are not supported")
        if param.kind is param.POSITIONAL_ONLY:
            # The executor passes inputs by name.
            raise DefinitionError(f"{owner}: positional-only parameter '{param.name}'")
    takes_context = bool(params) and params[0].name in _CONTEXT_PARAMS
    inputs = params[1:] if takes_context else params
    for param in inputs:
        if param.name in _CONTEXT_PARAMS:
            raise DefinitionError(f"{owner}: '{param.name}' must be the first parameter")
    return takes_context, inputs


# ---------------------------------------------------------------------------------------
# The context passed to user functions


class StepContext:
    """What an op or asset receives as `context`; the executor builds one per step.

    `log` is the logger whose records the executor captures into the run's log.
    """

    def __init__(
        self,
        run_id: str,
        job_name: str,
        step_key: str,
        run_config: Mapping[str, Any] | None = None,
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        *,
        run_tags: Mapping[str, str] | None = None,
    ) -> None:
        self.run_id = run_id
        self.job_name = job_name
        self.step_key = step_key
        self.run_config: dict[str, Any] = dict(run_config or {})
        self.run_tags: dict[str, str] = dict(run_tags or {})
        self.log = log if log is not None else logging.getLogger(f"queueing.user.{job_name}")

    @property
    def op_config(self) -> Any:
        """`run_config["ops"][step_key]["config"]`, or None (Dagster keys it by the step key)."""
        ops = self.run_config.get("ops")
        entry = ops.get(self.step_key) if isinstance(ops, Mapping) else None
        return entry.get("config") if isinstance(entry, Mapping) else None

    @property
    def has_partition_key(self) -> bool:
        return PARTITION_TAG in self.run_tags

    @property
    def partition_key(self) -> str:
        """The run's partition (its `dagster/partition` tag); an error outside a partitioned run."""
        try:
            return self.run_tags[PARTITION_TAG]
        except KeyError:
            raise DefinitionError(
                f"job '{self.job_name}' run {self.run_id} is not partitioned: "
                "it has no partition key"
            ) from None

    def __repr__(self) -> str:
        return f"StepContext(run_id={self.run_id!r}, step_key={self.step_key!r})"


# Dagster's names, so type hints in user code keep working.
OpExecutionContext = StepContext
AssetExecutionContext = StepContext


# ---------------------------------------------------------------------------------------
# Ops and jobs


class OpDefinition:
    """A function that runs as one step. Called inside a `@job` body it records the step."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        pool: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        pool_slots: int | None = None,
        pools: Mapping[str, int] | None = None,
    ) -> None:
        functools.update_wrapper(self, fn)
        self.name = _check_name("op", name or getattr(fn, "__name__", None))
        owner = f"op '{self.name}'"
        self.fn = fn
        self.takes_context, params = _parameters(owner, fn)
        self.inputs = tuple(param.name for param in params)
        self.tags = _check_tags(owner, tags)
        self.pools = _resolve_demand(owner, pool, pool_slots, pools, self.tags)
        self.priority = _check_priority(owner, self.tags)
        self.description = description if description is not None else inspect.getdoc(fn)
        # Inputs without a default must be wired in the job body.
        self._composition_signature = inspect.Signature(params)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        composition = _COMPOSITION.get()
        if composition is None:
            # Outside a job body: plain invocation, handy in tests.
            return self.fn(*args, **kwargs)
        return composition.invoke(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<op {self.name}>"


def op(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    pool: str | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
    pool_slots: int | None = None,
    pools: Mapping[str, int] | None = None,
) -> Any:
    """`@op` or `@op(name=, pool=, pool_slots=, pools=, tags=, description=)`.

    The pool may also be given by the legacy op tag `dagster/concurrency_key`; both with
    different values is a DefinitionError. `pool_slots` (default 1) is how many slots of
    the pool the step claims; `pools={"warehouse": 2, "partner_api": 1}` claims slots of
    several pools at once, all or none (not with `pool=`). The first parameter, if named
    `context`, gets a StepContext; the others are inputs, wired to other ops' outputs in a
    job body.
    """

    def decorate(f: Callable[..., Any]) -> OpDefinition:
        return OpDefinition(
            f,
            name=name,
            pool=pool,
            tags=tags,
            description=description,
            pool_slots=pool_slots,
            pools=pools,
        )

    return decorate(fn) if fn is not None else decorate


class OutputHandle:
    """What calling an op inside a job body returns: the output of one step, to pass on."""

    __slots__ = ("step_key", "_composition")

    def __init__(self, step_key: str, composition: _Composition) -> None:
        self.step_key = step_key
        self._composition = composition

    def __repr__(self) -> str:
        return f"<output of {self.step_key}>"


@dataclass(frozen=True)
class _StepSpec:
    key: str
    node: OpDefinition | AssetsDefinition
    # (parameter name, upstream step key) for inputs produced inside the plan.
    inputs: tuple[tuple[str, str], ...]
    # Asset inputs whose upstream is outside the job's selection: passed None.
    unbound: tuple[str, ...] = ()
    # Ordering-only dependencies (asset `deps=`).
    extra_deps: tuple[str, ...] = ()

    def plan_step(self) -> PlanStep:
        deps = dict.fromkeys([upstream for _, upstream in self.inputs] + list(self.extra_deps))
        return PlanStep(
            key=self.key,
            op_name=self.node.name,
            deps=tuple(deps),
            pools=dict(self.node.pools),
            tags=dict(
                self.node.op_tags if isinstance(self.node, AssetsDefinition) else self.node.tags
            ),
            priority=self.node.priority,
            plan_index=0,
        )


class _Composition:
    """Records the op calls of one `@job` body."""

    def __init__(self, job_name: str) -> None:
        self.job_name = job_name
        self.steps: list[_StepSpec] = []
        self._keys: set[str] = set()
        self._calls: dict[str, int] = {}

    def invoke(
        self, op_def: OpDefinition, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> OutputHandle:
        owner = f"job '{self.job_name}': op '{op_def.name}'"
        try:
            bound = op_def._composition_signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise DefinitionError(f"{owner}: {exc}") from None
        inputs: list[tuple[str, str]] = []
        for param, value in bound.arguments.items():
            if not isinstance(value, OutputHandle):
                raise DefinitionError(
                    f"{owner}: input '{param}' must be the output of another op "
                    f"(got {type(value).__name__}); pass constants through op config"
                )
            if value._composition is not self:
                raise DefinitionError(f"{owner}: input '{param}' comes from another job's body")
            inputs.append((param, value.step_key))
        key = self._step_key(op_def.name)
        self.steps.append(_StepSpec(key=key, node=op_def, inputs=tuple(inputs)))
        return OutputHandle(key, self)

    def _step_key(self, op_name: str) -> str:
        # Dagster's aliasing: the second call of `op` is `op_2`, the third `op_3`.
        count = self._calls.get(op_name, 0)
        while True:
            count += 1
            key = op_name if count == 1 else f"{op_name}_{count}"
            if key not in self._keys:
                break
        self._calls[op_name] = count
        self._keys.add(key)
        return key


_COMPOSITION: contextvars.ContextVar[_Composition | None] = contextvars.ContextVar(
    "queueing_job_composition", default=None
)


class JobDefinition:
    """A named graph of steps with run tags and default run config.

    Built (and validated) once; `plan()` is what a run stores at creation.
    """

    def __init__(
        self,
        name: str,
        steps: Sequence[_StepSpec],
        *,
        tags: Mapping[str, str] | None = None,
        default_run_config: Mapping[str, Any] | None = None,
        description: str | None = None,
        partitions_def: PartitionsDefinition | None = None,
    ) -> None:
        self.name = _check_name("job", name)
        owner = f"job '{self.name}'"
        self.partitions_def = _check_partitions(owner, partitions_def)
        if not steps:
            raise DefinitionError(f"{owner} has no steps")
        self._tags = _check_tags(owner, tags)
        _check_priority(owner, self._tags)
        self._default_run_config = _check_config(owner, default_run_config)
        self.description = description
        try:
            self._plan = build_plan(self.name, [spec.plan_step() for spec in steps])
        except PlanError as exc:
            raise DefinitionError(str(exc)) from None
        self._specs = {spec.key: spec for spec in steps}
        errors = self.run_config_errors(self._default_run_config)
        if errors:
            raise DefinitionError(f"{owner}: default config: " + "; ".join(errors), errors)

    @property
    def tags(self) -> dict[str, str]:
        """The job's tags, which every run of it carries (run tags, SEMANTICS 2.5)."""
        return dict(self._tags)

    @property
    def default_run_config(self) -> dict[str, Any]:
        return copy.deepcopy(self._default_run_config)

    def plan(self) -> ExecutionPlan:
        return self._plan

    def resolve_run_config(self, run_config: Mapping[str, Any] | None) -> dict[str, Any]:
        """The user's run config deep-merged over the job's default config."""
        return merge_run_config(self._default_run_config, run_config)

    def run_config_errors(self, run_config: Any) -> list[str]:
        """Problems with the `ops:` section of a run config (unknown steps, bad shapes)."""
        if not isinstance(run_config, Mapping):
            return [f"run config must be a mapping, got {type(run_config).__name__}"]
        ops = run_config.get("ops")
        if ops is None:
            return []
        if not isinstance(ops, Mapping):
            return [f"ops must be a mapping of step keys, got {type(ops).__name__}"]
        errors = []
        for key, entry in ops.items():
            if key not in self._specs:
                errors.append(f"ops.{key}: job '{self.name}' has no step '{key}'")
            elif not isinstance(entry, Mapping):
                errors.append(f"ops.{key}: expected a mapping like {{config: ...}}")
        return errors

    def get_step_callable(
        self, step_key: str
    ) -> tuple[Callable[..., Any], list[tuple[str, str]], bool]:
        """(fn, [(parameter name, upstream step key)], takes_context) for one step.

        Call it as `fn(context, **inputs)` when takes_context, else `fn(**inputs)`, with
        inputs passed BY NAME: `{param: outputs[upstream_key]}`. Asset inputs whose
        upstream is not in this job are already bound to None (there is no stored
        materialization to load).
        """
        try:
            spec = self._specs[step_key]
        except KeyError:
            raise KeyError(f"job '{self.name}' has no step '{step_key}'") from None
        fn = spec.node.fn
        if spec.unbound:
            fn = functools.partial(fn, **dict.fromkeys(spec.unbound))
        return fn, list(spec.inputs), spec.node.takes_context

    def run_step(
        self, step_key: str, context: StepContext, upstream_outputs: Mapping[str, Any]
    ) -> Any:
        """Run one step given the outputs of its upstream steps (keyed by step key)."""
        fn, inputs, takes_context = self.get_step_callable(step_key)
        kwargs = {param: upstream_outputs[upstream] for param, upstream in inputs}
        return fn(context, **kwargs) if takes_context else fn(**kwargs)

    def __repr__(self) -> str:
        return f"<job {self.name}>"


def job(
    fn: Callable[[], Any] | None = None,
    *,
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
    description: str | None = None,
    partitions_def: PartitionsDefinition | None = None,
) -> Any:
    """`@job` or `@job(name=, tags=, config=, description=, partitions_def=)`.

    The body runs once, at decoration, calling ops like Dagster (`c(a(), b(a()))`); each
    call becomes a step. `tags` are the run tags of every run of the job; `config` is
    default run config merged under the run config given at launch. A job with
    `partitions_def` runs one partition per run (tag `dagster/partition`).
    """

    def decorate(f: Callable[[], Any]) -> JobDefinition:
        job_name = _check_name("job", name or getattr(f, "__name__", None))
        if inspect.signature(f).parameters:
            raise DefinitionError(f"job '{job_name}': the job function takes no parameters")
        composition = _Composition(job_name)
        token = _COMPOSITION.set(composition)
        try:
            f()
        finally:
            _COMPOSITION.reset(token)
        return JobDefinition(
            job_name,
            composition.steps,
            tags=tags,
            default_run_config=config,
            description=description if description is not None else inspect.getdoc(f),
            partitions_def=partitions_def,
        )

    return decorate(fn) if fn is not None else decorate


# ---------------------------------------------------------------------------------------
# Assets and asset jobs


class AssetsDefinition:
    """One asset: a function whose parameters (after `context`) name its upstream assets."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        pool: str | None = None,
        op_tags: Mapping[str, str] | None = None,
        deps: Iterable[AssetsDefinition | str] | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        partitions_def: PartitionsDefinition | None = None,
        pool_slots: int | None = None,
        pools: Mapping[str, int] | None = None,
    ) -> None:
        functools.update_wrapper(self, fn)
        self.name = _check_name("asset", name or getattr(fn, "__name__", None))
        owner = f"asset '{self.name}'"
        self.partitions_def = _check_partitions(owner, partitions_def)
        self.fn = fn
        self.takes_context, params = _parameters(owner, fn)
        # A parameter named like another asset is a data dependency (its value is passed in).
        self.inputs = tuple(param.name for param in params)
        self.op_tags = _check_tags(owner, op_tags, "op_tags")
        # Asset tags label the asset only: they reach neither the run nor the step (SEMANTICS 3.2).
        self.tags = _check_tags(owner, tags)
        self.pools = _resolve_demand(owner, pool, pool_slots, pools, self.op_tags)
        self.priority = _check_priority(owner, self.op_tags)
        self.deps = tuple(_asset_name(owner, dep) for dep in deps or ())
        self.description = description if description is not None else inspect.getdoc(fn)

    def upstream(self) -> tuple[str, ...]:
        """Every asset this one depends on: inputs first, then `deps`, without repeats."""
        return tuple(dict.fromkeys(self.inputs + self.deps))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _COMPOSITION.get() is not None:
            raise DefinitionError(
                f"asset '{self.name}' was called in a @job body: use define_asset_job"
            )
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<asset {self.name}>"


def _asset_name(owner: str, ref: Any) -> str:
    if isinstance(ref, AssetsDefinition):
        return ref.name
    if isinstance(ref, str):
        return ref
    raise DefinitionError(f"{owner}: expected an asset or an asset name, got {type(ref).__name__}")


def asset(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    pool: str | None = None,
    op_tags: Mapping[str, str] | None = None,
    deps: Iterable[AssetsDefinition | str] | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
    partitions_def: PartitionsDefinition | None = None,
    pool_slots: int | None = None,
    pools: Mapping[str, int] | None = None,
) -> Any:
    """`@asset` or `@asset(name=, pool=, pool_slots=, pools=, op_tags=, deps=, tags=,
    description=, partitions_def=)`.

    `op_tags` (and the pools) reach the step; asset `tags` do not. `pool_slots` and
    `pools` are as for `@op`. `deps` adds upstream assets whose values are not passed in.
    """

    def decorate(f: Callable[..., Any]) -> AssetsDefinition:
        return AssetsDefinition(
            f,
            name=name,
            pool=pool,
            op_tags=op_tags,
            deps=deps,
            tags=tags,
            description=description,
            partitions_def=partitions_def,
            pool_slots=pool_slots,
            pools=pools,
        )

    return decorate(fn) if fn is not None else decorate


class UnresolvedAssetJob:
    """A job over selected assets; `Definitions` turns it into a JobDefinition."""

    def __init__(
        self,
        name: str,
        selection: str | Iterable[AssetsDefinition | str],
        *,
        tags: Mapping[str, str] | None = None,
        config: Mapping[str, Any] | None = None,
        description: str | None = None,
        partitions_def: PartitionsDefinition | None = None,
    ) -> None:
        self.name = _check_name("job", name)
        owner = f"job '{self.name}'"
        self.partitions_def = _check_partitions(owner, partitions_def)
        self.tags = _check_tags(owner, tags)
        _check_priority(owner, self.tags)
        self.config = _check_config(owner, config)
        self.description = description
        # "*" selects every asset of the Definitions.
        if isinstance(selection, str) and selection == "*":
            self.selection: tuple[str, ...] | None = None
        elif isinstance(selection, str):
            self.selection = (selection,)
        else:
            self.selection = tuple(dict.fromkeys(_asset_name(owner, ref) for ref in selection))
            if not self.selection:
                raise DefinitionError(f"{owner}: the selection is empty")

    def resolve(self, assets: Mapping[str, AssetsDefinition]) -> JobDefinition:
        """The job over `assets` (declaration order). Upstreams outside the selection are ignored."""
        names = list(assets) if self.selection is None else list(self.selection)
        unknown = [name for name in names if name not in assets]
        if unknown:
            raise DefinitionError(
                f"job '{self.name}': selection names unknown asset(s) "
                + ", ".join(f"'{name}'" for name in unknown)
            )
        selected = set(names)
        partitions_def = self._partitions(assets[name] for name in names)
        steps = [
            _StepSpec(
                key=definition.name,
                node=definition,
                inputs=tuple((p, p) for p in definition.inputs if p in selected),
                unbound=tuple(p for p in definition.inputs if p not in selected),
                extra_deps=tuple(d for d in definition.deps if d in selected),
            )
            for name, definition in assets.items()
            if name in selected
        ]
        return JobDefinition(
            self.name,
            steps,
            tags=self.tags,
            default_run_config=self.config,
            description=self.description,
            partitions_def=partitions_def,
        )

    def _partitions(self, selected: Iterable[AssetsDefinition]) -> PartitionsDefinition | None:
        """The job's partitions: its own, else the selected assets' (all partitioned assets
        of one asset job share one definition, as in Dagster)."""
        found = {a.name: a.partitions_def for a in selected if a.partitions_def is not None}
        distinct = list(dict.fromkeys(found.values()))
        if self.partitions_def is not None:
            differ = [n for n, p in found.items() if p != self.partitions_def]
            if differ:
                raise DefinitionError(
                    f"job '{self.name}': asset(s) {', '.join(differ)} have other partitions "
                    "than the job's partitions_def"
                )
            return self.partitions_def
        if len(distinct) > 1:
            raise DefinitionError(
                f"job '{self.name}': the selected assets have different partitions "
                f"({', '.join(sorted(found))}); select assets that share one"
            )
        return distinct[0] if distinct else None

    def __repr__(self) -> str:
        return f"<asset job {self.name}>"


def define_asset_job(
    name: str,
    selection: str | Iterable[AssetsDefinition | str] = "*",
    *,
    tags: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
    description: str | None = None,
    partitions_def: PartitionsDefinition | None = None,
) -> UnresolvedAssetJob:
    """A job materializing the selected assets (objects or names; "*" for all). Its
    partitions are `partitions_def`, else those of the selected partitioned assets."""
    return UnresolvedAssetJob(
        name,
        selection,
        tags=tags,
        config=config,
        description=description,
        partitions_def=partitions_def,
    )


# ---------------------------------------------------------------------------------------
# Definitions


class Definitions:
    """The assets and jobs of one code location, validated as a whole on construction.

    Raises DefinitionError listing every problem: duplicate asset or job names, an asset
    input or dep that names no asset, asset cycles, unknown assets in a selection.
    """

    def __init__(
        self,
        assets: Iterable[AssetsDefinition] = (),
        jobs: Iterable[JobDefinition | UnresolvedAssetJob] = (),
        schedules: Iterable[ScheduleDefinition] = (),
        sensors: Iterable[SensorDefinition] = (),
    ) -> None:
        errors: list[str] = []
        schedules, sensors = list(schedules), list(sensors)
        # A schedule's or sensor's job object counts as listed in `jobs`, as in Dagster.
        jobs = _with_automation_jobs(jobs, [*schedules, *sensors])
        self._assets: dict[str, AssetsDefinition] = {}
        for item in assets:
            if not isinstance(item, AssetsDefinition):
                errors.append(f"assets: {item!r} is not an @asset")
            elif item.name in self._assets:
                errors.append(f"duplicate asset name '{item.name}'")
            else:
                self._assets[item.name] = item
        asset_errors = self._asset_graph_errors()
        errors.extend(asset_errors)

        self._jobs: dict[str, JobDefinition] = {}
        seen: set[str] = set()
        for job_item in jobs:
            if not isinstance(job_item, JobDefinition | UnresolvedAssetJob):
                errors.append(f"jobs: {job_item!r} is not a @job or define_asset_job")
                continue
            if job_item.name in seen:
                errors.append(f"duplicate job name '{job_item.name}'")
                continue
            seen.add(job_item.name)
            if isinstance(job_item, JobDefinition):
                self._jobs[job_item.name] = job_item
            elif not asset_errors:
                try:
                    self._jobs[job_item.name] = job_item.resolve(self._assets)
                except DefinitionError as exc:
                    errors.extend(exc.errors)
        self._schedules: dict[str, ScheduleDefinition] = {}
        self._sensors: dict[str, SensorDefinition] = {}
        errors += _automation_errors(schedules, sensors, self._schedules, self._sensors, seen)
        if errors:
            raise DefinitionError(
                "invalid definitions:\n" + "\n".join(f"  - {e}" for e in errors), errors
            )

    @property
    def schedules(self) -> tuple[ScheduleDefinition, ...]:
        return tuple(self._schedules.values())

    @property
    def sensors(self) -> tuple[SensorDefinition, ...]:
        return tuple(self._sensors.values())

    def _asset_graph_errors(self) -> list[str]:
        errors = []
        for definition in self._assets.values():
            for name in definition.upstream():
                if name not in self._assets:
                    errors.append(f"asset '{definition.name}' depends on unknown asset '{name}'")
        if errors:
            return errors
        steps = [
            _StepSpec(
                key=d.name,
                node=d,
                inputs=tuple((p, p) for p in d.inputs),
                extra_deps=d.deps,
            ).plan_step()
            for d in self._assets.values()
        ]
        return [f"assets: {error}" for error in validate_plan(steps)]

    @property
    def assets(self) -> tuple[AssetsDefinition, ...]:
        return tuple(self._assets.values())

    @property
    def jobs(self) -> tuple[JobDefinition, ...]:
        return tuple(self._jobs.values())

    def job_names(self) -> list[str]:
        return list(self._jobs)

    def has_job(self, name: str) -> bool:
        return name in self._jobs

    def get_job(self, name: str) -> JobDefinition:
        """The job called `name`; KeyError if there is none."""
        try:
            return self._jobs[name]
        except KeyError:
            raise KeyError(f"no job named '{name}'") from None


# ---------------------------------------------------------------------------------------
# Schedules and sensors of a Definitions (issue 16; the classes are in engine/automation.py)


def _with_automation_jobs(
    jobs: Iterable[JobDefinition | UnresolvedAssetJob],
    automations: Sequence[ScheduleDefinition | SensorDefinition],
) -> list[JobDefinition | UnresolvedAssetJob]:
    listed = list(jobs)
    names = {getattr(j, "name", None) for j in listed}
    for item in automations:
        job_def = getattr(item, "job", None)
        if isinstance(job_def, JobDefinition | UnresolvedAssetJob) and job_def.name not in names:
            listed.append(job_def)
            names.add(job_def.name)
    return listed


def _automation_errors(
    schedules: Sequence[Any],
    sensors: Sequence[Any],
    schedules_out: dict[str, ScheduleDefinition],
    sensors_out: dict[str, SensorDefinition],
    job_names: set[str],
) -> list[str]:
    errors = []
    for kind, items, out, cls in (
        ("schedule", schedules, schedules_out, ScheduleDefinition),
        ("sensor", sensors, sensors_out, SensorDefinition),
    ):
        for item in items:
            if not isinstance(item, cls):
                errors.append(f"{kind}s: {item!r} is not a {cls.__name__}")
            elif item.name in out:
                errors.append(f"duplicate {kind} name '{item.name}'")
            elif item.job_name not in job_names:
                errors.append(f"{kind} '{item.name}' targets unknown job '{item.job_name}'")
            else:
                out[item.name] = item
    return errors
