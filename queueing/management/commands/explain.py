from __future__ import annotations

from queueing.engine.types import RunStatus, Wait
from queueing.services import run_queue, runs
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
        lines = [f"run {run.run_id} of {run.job_name}: {run.status}"]
        if verdict is None:
            if run.failure_reason:
                lines.append(f"  {run.failure_reason}")
            for step in data["steps"]:
                extra = f"  {step['wait_reason']}" if step["wait_reason"] else ""
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
            estimate = data["start_estimate"]
            if estimate is not None:
                lines.append(f"  {estimate['label']} ({estimate['assumption']})")
        self.emit(options, data, "\n".join(lines))
