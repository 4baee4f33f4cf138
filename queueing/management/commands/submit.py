from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from queueing.engine.config import ConfigError
from queueing.engine.submission import parse_tag_pair
from queueing.errors import InvalidInput
from queueing.services import runs

from ._base import QueueCommand

MAX_CONFIG_BYTES = 1024 * 1024


def read_run_config(name: str) -> Any:
    """The run config in the YAML file `name`; InvalidInput (one line) if it cannot be used."""
    path = Path(name)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise InvalidInput.one("--config", f"{path} is larger than 1 MB ({size} bytes)")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput.one("--config", f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput.one("--config", f"{path} is not a UTF-8 text file") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        # PyYAML's own message spans several lines; the CLI prints one line per problem.
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = ": ".join(p for p in (exc.context, exc.problem) if p) or "syntax error"
        raise InvalidInput.one("--config", f"invalid YAML{where}: {problem}") from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        message = " ".join(str(exc).split())
        raise InvalidInput.one("--config", f"invalid YAML: {message}") from None


class Command(QueueCommand):
    help = "Submit a run of JOB to the queue and print its id."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("job")
        parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument("--config", metavar="PATH", help="run config as a YAML file")

    def handle(self, *args, **options):
        tags = {}
        errors = []
        for pair in options["tag"]:
            try:
                key, value = parse_tag_pair(pair)
            except ValueError as exc:
                errors.append(ConfigError("--tag", str(exc)))
                continue
            tags[key] = value
        if errors:
            raise InvalidInput(errors)
        run_config = None
        if options["config"]:
            # An empty file is an empty run config.
            run_config = read_run_config(options["config"])
            if run_config is None:
                run_config = {}
        run = runs.submit(options["job"], tags=tags, run_config=run_config, actor="cli")
        self.emit(options, {"run_id": run.run_id, "status": run.status}, run.run_id)
