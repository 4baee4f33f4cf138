"""`manage.py backfill launch|list|show|cancel|rerun`: backfills of partitioned jobs."""

from __future__ import annotations

from queueing.services import backfills

from ._base import QueueCommand, action_parser, tags_from_options
from .submit import read_run_config


def _line(data: dict) -> str:
    counts = ", ".join(f"{n} {status.lower()}" for status, n in sorted(data["counts"].items()))
    return (
        f"{data['backfill_id']}  {data['job_name']:<24} {data['status']:<18} "
        f"{data['done']}/{data['partitions']} done ({counts or 'no runs'})"
    )


class Command(QueueCommand):
    help = (
        "Backfills: launch JOB (--partitions K[,K...] | --from K --to K | --all) "
        "[--tag KEY=VALUE]... [--config PATH]; list; show ID; cancel ID; rerun ID "
        "(the failed partitions, as a new backfill)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        sub = parser.add_subparsers(dest="action", required=True)
        launch = action_parser(sub, "launch")
        launch.add_argument("job")
        launch.add_argument("--partitions", metavar="K[,K...]")
        launch.add_argument("--from", dest="start", metavar="K")
        launch.add_argument("--to", dest="end", metavar="K")
        launch.add_argument("--all", action="store_true")
        launch.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
        launch.add_argument("--config", metavar="PATH", help="run config as a YAML file")
        action_parser(sub, "list")
        for name in ("show", "cancel", "rerun"):
            action_parser(sub, name).add_argument("backfill_id")

    def handle(self, *args, **options):
        action = options["action"]
        if action == "launch":
            keys = options["partitions"]
            run_config = read_run_config(options["config"]) if options["config"] else None
            backfill = backfills.launch(
                options["job"],
                partitions=None if keys is None else [k for k in keys.split(",") if k],
                start=options["start"],
                end=options["end"],
                all_partitions=options["all"],
                tags=tags_from_options(options["tag"]),
                run_config=run_config,
                actor="cli",
            )
            data = backfills.backfill_to_dict(backfills.progress(backfill))
            self.emit(options, data, backfill.backfill_id)
        elif action == "list":
            data = [backfills.backfill_to_dict(p) for p in backfills.list_backfills()]
            self.emit(options, data, "\n".join(_line(d) for d in data) or "no backfills")
        elif action == "show":
            progress = backfills.progress(backfills.get(options["backfill_id"]), holding=True)
            data = backfills.backfill_detail(progress)
            lines = [_line(data)]
            lines += [f"  holds {h['runs']} queued run(s): {h['message']}" for h in data["holding"]]
            lines += [
                f"  {r['partition']:<20} {r['status']:<10} {r['run_id']}" for r in data["runs"]
            ]
            self.emit(options, data, "\n".join(lines))
        elif action == "cancel":
            progress = backfills.cancel(options["backfill_id"], actor="cli")
            data = backfills.backfill_to_dict(progress)
            self.emit(options, data, _line(data))
        else:
            backfill = backfills.rerun_failed(options["backfill_id"], actor="cli")
            data = backfills.backfill_to_dict(backfills.progress(backfill))
            self.emit(options, data, backfill.backfill_id)
