from __future__ import annotations

from queueing.engine.grammar import parse_integer
from queueing.engine.types import RunStatus
from queueing.errors import InvalidInput
from queueing.models import Run
from queueing.services.queries import filter_runs, page_of_runs, run_to_dict

from ._base import QueueCommand


class Command(QueueCommand):
    help = (
        "List runs: queued runs first, in the order the next tick considers them, with the "
        "reason each waits; then the others, newest first."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--status", action="append", default=[], choices=[s.value for s in RunStatus]
        )
        parser.add_argument("--job")
        parser.add_argument("--limit", default="100")

    def handle(self, *args, **options):
        try:
            limit = parse_integer(options["limit"])
        except ValueError as exc:
            raise InvalidInput.one("--limit", str(exc)) from None
        if limit < 1:
            raise InvalidInput.one("--limit", f"{limit} is invalid: show at least 1 run")
        statuses = list(dict.fromkeys(options["status"])) or [s.value for s in RunStatus]
        others = [s for s in statuses if s != RunStatus.QUEUED]
        job = options["job"]
        # Asked for queued runs alone, filter_runs sorts them in queue order.
        wants_queued = RunStatus.QUEUED in statuses
        queued_qs = filter_runs([RunStatus.QUEUED], job=job) if wants_queued else Run.objects.none()
        queued = page_of_runs(queued_qs, 0, limit)
        rest_qs = filter_runs(others, job=job) if others else Run.objects.none()
        rest = page_of_runs(rest_qs, 0, limit - len(queued.runs))
        data = [
            run_to_dict(r, queued.verdicts.get(r.run_id), start_estimates=queued.estimates)
            for r in queued.runs
        ]
        data += [run_to_dict(r) for r in rest.runs]
        total = queued.total + rest.total
        lines = []
        for item in data:
            line = f"{item['run_id']}  {item['status']:<10} {item['job_name']:<24} p={item['priority']}"
            if item["queue"]:
                line += f"  #{item['queue']['position']} {item['queue']['message']}"
            lines.append(line)
        lines.append(f"({len(data)} of {total} runs)")
        self.emit(options, {"total": total, "runs": data}, "\n".join(lines))
