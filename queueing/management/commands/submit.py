from __future__ import annotations

from pathlib import Path

import yaml

from queueing.engine.submission import parse_tag_pair
from queueing.errors import InvalidInput
from queueing.services import runs

from ._base import QueueCommand


class Command(QueueCommand):
    help = "Submit a run of JOB to the queue and print its id."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("job")
        parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument("--config", metavar="PATH", help="run config as a YAML file")

    def handle(self, *args, **options):
        tags = {}
        for pair in options["tag"]:
            try:
                key, value = parse_tag_pair(pair)
            except ValueError as exc:
                raise InvalidInput.one("--tag", str(exc)) from None
            tags[key] = value
        run_config = None
        if options["config"]:
            path = Path(options["config"])
            try:
                run_config = yaml.safe_load(path.read_text()) or {}
            except OSError as exc:
                raise InvalidInput.one("--config", f"cannot read {path}: {exc.strerror}") from None
            except yaml.YAMLError as exc:
                raise InvalidInput.one("--config", f"invalid YAML: {exc}") from None
        run = runs.submit(options["job"], tags=tags, run_config=run_config, actor="cli")
        self.emit(options, {"run_id": run.run_id, "status": run.status}, run.run_id)
