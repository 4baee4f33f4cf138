from __future__ import annotations

import argparse

from queueing.models import Pool
from queueing.services import pools, runs

from ._base import QueueCommand


def action_parser(sub, name: str):
    """A sub-command that also takes `--json` after it (`pools list --json`)."""
    parser = sub.add_parser(name)
    # SUPPRESS: when absent here, a `--json` given before the action still counts.
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    return parser


class Command(QueueCommand):
    help = "Pools: list, set KEY LIMIT, delete KEY, free --run ID [--step KEY]."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        sub = parser.add_subparsers(dest="action", required=True)
        action_parser(sub, "list")
        set_ = action_parser(sub, "set")
        set_.add_argument("key")
        set_.add_argument("limit")
        delete = action_parser(sub, "delete")
        delete.add_argument("key")
        free = action_parser(sub, "free")
        free.add_argument("--run", required=True)
        free.add_argument("--step")

    def handle(self, *args, **options):
        action = options["action"]
        if action == "set":
            pool = pools.set_limit(options["key"], options["limit"], actor="cli")
            self.emit(options, {"key": pool.key, "limit": pool.limit}, f"{pool.key}: {pool.limit}")
        elif action == "delete":
            pools.delete_pool(options["key"], actor="cli")
            self.emit(options, {"deleted": options["key"]}, f"deleted {options['key']}")
        elif action == "free":
            run = runs.get_run(options["run"])
            freed = pools.free_run(run, step_key=options["step"], actor="cli")
            self.emit(options, {"freed": freed}, f"freed {freed} slot(s) or waiting entries")
        else:
            usage = pools.pool_usage()
            data = [
                {
                    "key": p.key,
                    "limit": p.limit,
                    "from_default": p.from_default,
                    "held": usage.get(p.key, {}).get("held", 0),
                    "waiting": usage.get(p.key, {}).get("waiting", 0),
                }
                for p in Pool.objects.all()
            ]
            lines = [
                f"{d['key']:<24} {d['held']}/{d['limit']} held, {d['waiting']} waiting"
                + (" (default)" if d["from_default"] else "")
                for d in data
            ] or ["no pools with a limit (pools without one are unlimited)"]
            self.emit(options, data, "\n".join(lines))
