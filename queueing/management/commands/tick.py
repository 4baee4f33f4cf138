from __future__ import annotations

from queueing.services import automation, monitoring, run_queue

from ._base import QueueCommand


class Command(QueueCommand):
    help = "Run one tick of a daemon now: run_queue, run_monitoring, schedules or sensors."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "daemon", choices=["run_queue", "run_monitoring", "schedules", "sensors"]
        )

    def handle(self, *args, **options):
        if options["daemon"] == "run_queue":
            result = run_queue.tick(force=True)
            data = {
                "launched": list(result.launched),
                "queued": result.queued,
                "active": result.active,
                "duration_ms": round(result.duration_ms, 2),
            }
            text = (
                f"launched {len(result.launched)} run(s); {result.queued} still queued, "
                f"{result.active} in progress ({result.duration_ms:.1f} ms)"
            )
            for run_id in result.launched:
                text += f"\n  {run_id}"
        elif options["daemon"] in ("schedules", "sensors"):
            tick = (
                automation.tick_schedules
                if options["daemon"] == "schedules"
                else automation.tick_sensors
            )
            outcome = tick(force=True)
            data = {
                "run_ids": outcome.run_ids,
                "evaluated": outcome.evaluated,
                "failures": outcome.failures,
                "duration_ms": round(outcome.duration_ms, 2),
            }
            what = "scheduled time(s)" if options["daemon"] == "schedules" else "sensor(s)"
            text = (
                f"evaluated {outcome.evaluated} {what}: {len(outcome.run_ids)} run(s) requested, "
                f"{outcome.failures} failure(s) ({outcome.duration_ms:.1f} ms)"
            )
            for run_id in outcome.run_ids:
                text += f"\n  {run_id}"
        else:
            result = monitoring.tick(force=True)
            data = {
                "actions": [monitoring.describe(a) for a in result.actions],
                "duration_ms": round(result.duration_ms, 2),
                "ran": result.ran,
            }
            text = (
                f"{len(result.actions)} action(s) ({result.duration_ms:.1f} ms)"
                if result.ran
                else "run monitoring is disabled (run_monitoring.enabled: false)"
            )
            for action in result.actions:
                text += f"\n  {monitoring.describe(action)}"
        self.emit(options, data, text)
