"""The attached deployment as rows and plain dicts: what the pages, the CLI and --json show.

Pure (no Dagster, no Django): every view and command of the Dagster section calls these on
one `DagsterState`, so a page and `manage.py dagster … --json` cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from ..engine.doctor.facts import ago
from ..engine.pools import free_run_refusal
from ..engine.types import Launch, TickDecision, Wait
from .state import DagsterPool, DagsterRun, DagsterState


def deployment_dict(state: DagsterState) -> dict[str, Any]:
    d = state.deployment
    return {
        "home": d.home,
        "storage": d.storage,
        "dagster_version": d.dagster_version,
        "run_coordinator": d.coordinator,
        "queued_coordinator": d.queued_coordinator,
        "coordinator_error": d.coordinator_error,
        "semantics": state.settings.semantics,
    }


def verdict_dict(verdict: Launch | Wait) -> dict[str, Any]:
    data: dict[str, Any] = {
        "verdict": "launch" if isinstance(verdict, Launch) else "wait",
        "position": verdict.position,
        # With the unit, so a page links the runs a gate names (templatetags gate_message).
        "gates": [{**g.to_dict(), "unit": g.unit} for g in verdict.gates],
        "notes": list(verdict.notes),
    }
    if isinstance(verdict, Wait):
        data["blocking"] = {**verdict.blocking.to_dict(), "unit": verdict.blocking.unit}
        data["reason"] = verdict.message
    else:
        data["reason"] = "launches at the daemon's next iteration"
    return data


def run_dict(run: DagsterRun) -> dict[str, Any]:
    summary = run.pool_summary
    return {
        "run_id": run.run_id,
        "job": run.job_name,
        "status": str(run.status),
        "priority": run.priority,
        "tags": dict(run.tags),
        "created_at": run.created_at,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "pools": sorted(summary.all_pools) if summary else [],
        "root_pools": dict(summary.root_pool_counts) if summary else {},
    }


def queued_rows(state: DagsterState, tick: TickDecision) -> list[dict[str, Any]]:
    """Queued runs in the order the daemon considers them, each with its verdict."""
    runs = {run.run_id: run for run in state.queued}
    return [
        {
            **run_dict(runs[rid]),
            **verdict_dict(tick.verdicts[rid]),
            "queued": _ago(state.now, runs[rid].created_at),
        }
        for rid in tick.order
    ]


def slots_by_run(pools: Mapping[str, DagsterPool]) -> dict[str, list[dict[str, Any]]]:
    """Pool entries per run: {run id: [{pool, step, holds}]}."""
    found: dict[str, list[dict[str, Any]]] = {}
    for pool in pools.values():
        held = set(pool.claimed)
        for entry in pool.pending:
            found.setdefault(entry.run_id, []).append(
                {
                    "pool": pool.key,
                    "step": entry.step_key,
                    "holds": (entry.run_id, entry.step_key) in held,
                    "assigned": entry.assigned,
                }
            )
    return found


def _ago(now: float, at: float | None) -> str:
    return "" if at is None else f"{ago(now - at)} ago"


def in_progress_rows(state: DagsterState) -> list[dict[str, Any]]:
    slots = slots_by_run(state.pools)
    return [
        {
            **run_dict(run),
            "slots": slots.get(run.run_id, []),
            "started": _ago(state.now, run.started_at or run.updated_at),
        }
        for run in state.in_progress
    ]


def pool_rows(state: DagsterState) -> list[dict[str, Any]]:
    """Every pool with a limit row, step entries or queued runs using it."""
    demand: dict[str, int] = {}
    for run in state.queued:
        for key in run.pool_summary.all_pools if run.pool_summary else ():
            demand[key] = demand.get(key, 0) + 1
    statuses: dict[str, str] = {}
    freeable: set[str] = set()
    for runs in (state.queued, state.in_progress, state.other_slot_runs):
        statuses.update({r.run_id: str(r.status) for r in runs})
        freeable |= {r.run_id for r in runs if free_run_refusal(r.run_id, r.status) is None}
    default = state.settings.default_pool_limit
    rows = []
    for key in sorted(set(state.pools) | set(demand)):
        pool = state.pools.get(key)
        if pool is not None and pool.has_row:
            limit_text = f"limit {pool.limit}" + (
                " (from default_limit)" if pool.from_default else ""
            )
        elif default is not None:
            limit_text = f"no limit row yet (default_limit {default} once the daemon writes it)"
        else:
            limit_text = "no limit"
        holders = [
            {
                "run_id": r,
                "step": s,
                "run_status": statuses.get(r, "unknown"),
                "freeable": r in freeable or r not in statuses,
            }
            for r, s in (pool.claimed if pool else ())
        ]
        waiting = [
            {**asdict(p), "run_status": statuses.get(p.run_id, "unknown")}
            for p in (pool.waiting if pool else ())
        ]
        rows.append(
            {
                "key": key,
                "has_row": bool(pool and pool.has_row),
                "limit": pool.limit if pool and pool.has_row else None,
                "limit_text": limit_text,
                "from_default": bool(pool and pool.from_default),
                "slot_count": pool.slot_count if pool else 0,
                "holders": holders,
                "waiting": waiting,
                "queued_runs": demand.get(key, 0),
            }
        )
    return rows


def explain(state: DagsterState, tick: TickDecision, run_id: str) -> dict[str, Any] | None:
    """A run's page: for a queued run its verdict and every gate; else its state and slots."""
    run = state.run(run_id)
    if run is None:
        return None
    data = run_dict(run)
    data["slots"] = slots_by_run(state.pools).get(run_id, [])
    verdict = tick.verdicts.get(run_id)
    if verdict is not None:
        data.update(verdict_dict(verdict))
    return data


def explain_text(data: Mapping[str, Any]) -> str:
    lines = [f"run {data['run_id']} ({data['job']}) {data['status']}, priority {data['priority']}"]
    if "verdict" in data:
        if data["verdict"] == "launch":
            lines.append(f"position {data['position']}: launches at the daemon's next iteration")
        else:
            lines.append(f"position {data['position']}: waits on {data['reason']}")
        for gate in data["gates"]:
            mark = "ok  " if gate["passed"] else "FULL"
            lines.append(f"  [{mark}] {gate['message']}")
        for note in data["notes"]:
            lines.append(f"  Dagster quirk: {note}")
    for slot in data["slots"]:
        what = "holds a slot" if slot["holds"] else "waits for a slot"
        lines.append(f"  step {slot['step']} {what} of pool {slot['pool']}")
    return "\n".join(lines)
