from __future__ import annotations

from queueing.engine.pool_words import usage_words
from queueing.services import pools, queries, runs

from ._base import QueueCommand, action_parser


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
            data = queries.pool_list()
            lines = [
                f"{d['key']:<24} {usage_words(d['limit'], d['held'], d['waiting'])}"
                + (" (default limit)" if d["from_default"] else "")
                + (" [no code uses it: typo?]" if d["unused"] else "")
                for d in data
            ] or ["no pools: none has a limit, and no loaded code uses one"]
            self.emit(options, data, "\n".join(lines))
