from __future__ import annotations

from queueing.engine.types import RunStatus, Wait
from queueing.services import pools, run_queue, runs
from queueing.services.config import current_config
from queueing.services.queries import run_to_dict

from ._base import QueueCommand


class Command(QueueCommand):
    help = "Explain what the next tick does with a run: every gate with its live numbers."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("run_id")

    def handle(self, *args, **options):
        run = runs.get_run(options["run_id"])
        verdict = run_queue.explain(run.run_id) if run.status == RunStatus.QUEUED else None
        data = run_to_dict(run, verdict, steps=True)
        # What each step still to run needs of its pools, in full (engine.pools.explain_demand).
        demands = pools.explain_steps(run, current_config().default_pool_limit)
        for step in data["steps"]:
            step["demand"] = demands.get(step["step_key"], "")
        lines = [f"run {run.run_id} of {run.job_name}: {run.status}"]
        if verdict is None:
            if run.failure_reason:
                lines.append(f"  {run.failure_reason}")
            for step in data["steps"]:
                extra = f"  {step['wait_reason']}" if step["wait_reason"] else ""
                if step["demand"] and step["demand"] not in step["wait_reason"]:
                    extra += f"  {step['demand']}"
                lines.append(f"  step {step['step_key']:<24} {step['status']}{extra}")
        else:
            state = (
                f"waits: {verdict.message}"
                if isinstance(verdict, Wait)
                else "launches at the next tick"
            )
            lines.append(
                f"  position {verdict.position} in the queue, priority {run.priority}; {state}"
            )
            for gate in verdict.gates:
                mark = "ok     " if gate.passed else "BLOCKED"
                lines.append(f"  [{mark}] {gate.message}")
            # A weighted or multi-pool root step: what it would need of each of its pools.
            roots = pools.explain_root_demands(
                {run.run_id: run.pool_summary}, current_config().default_pool_limit
            )
            lines.extend(f"  {text}" for text in roots.get(run.run_id, ()))
            estimate = data["start_estimate"]
            if estimate is not None:
                lines.append(f"  {estimate['label']} ({estimate['assumption']})")
        self.emit(options, data, "\n".join(lines))
