from __future__ import annotations

from typing import Any

from queueing.inputs import read_text_file, read_yaml
from queueing.services import runs

from ._base import QueueCommand, tags_from_options


def read_run_config(name: str) -> Any:
    """The run config in the YAML file `name`, read by the input boundary; InvalidInput
    (one `path: message` line per problem) if it cannot be used."""
    return read_yaml(read_text_file(name, "--config"), prefix="run_config", root="--config")


class Command(QueueCommand):
    help = "Submit a run of JOB to the queue and print its id."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("job")
        parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument("--config", metavar="PATH", help="run config as a YAML file")

    def handle(self, *args, **options):
        tags = tags_from_options(options["tag"])
        run_config = None
        if options["config"]:
            # An empty file is an empty run config.
            run_config = read_run_config(options["config"])
            if run_config is None:
                run_config = {}
        run = runs.submit(options["job"], tags=tags, run_config=run_config, actor="cli")
        self.emit(options, {"run_id": run.run_id, "status": run.status}, run.run_id)
