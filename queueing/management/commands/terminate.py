from __future__ import annotations

from queueing.services import runs

from ._base import QueueCommand


class Command(QueueCommand):
    help = (
        "Terminate a run: a queued run is canceled at once, a running one goes through CANCELING."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("run_id")
        parser.add_argument(
            "--force", action="store_true", help="mark CANCELED now and free its slots"
        )

    def handle(self, *args, **options):
        run = runs.terminate(options["run_id"], actor="cli", force=options["force"])
        self.emit(
            options, {"run_id": run.run_id, "status": run.status}, f"{run.run_id} {run.status}"
        )
