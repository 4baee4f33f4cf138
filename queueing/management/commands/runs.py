from __future__ import annotations

from queueing.engine.types import RunStatus
from queueing.services.queries import filter_runs, page_of_runs, run_to_dict

from ._base import QueueCommand


class Command(QueueCommand):
    help = "List runs; queued runs come in the order the next tick considers them, with the reason they wait."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--status", action="append", default=[], choices=[s.value for s in RunStatus]
        )
        parser.add_argument("--job")
        parser.add_argument("--limit", type=int, default=100)

    def handle(self, *args, **options):
        qs = filter_runs(options["status"], job=options["job"])
        page = page_of_runs(qs, 0, options["limit"])
        data = [run_to_dict(r, page.verdicts.get(r.run_id)) for r in page.runs]
        lines = []
        for item in data:
            line = f"{item['run_id']}  {item['status']:<10} {item['job_name']:<24} p={item['priority']}"
            if item["status"] == RunStatus.QUEUED and item["queue"]:
                line += f"  #{item['queue']['position']} {item['queue']['message']}"
            lines.append(line)
        lines.append(f"({len(data)} of {page.total} runs)")
        self.emit(options, {"total": page.total, "runs": data}, "\n".join(lines))
