from __future__ import annotations

from pathlib import Path

from queueing.engine.config import to_instance_yaml
from queueing.errors import InvalidInput
from queueing.services import config

from ._base import QueueCommand

MAX_BYTES = 1024 * 1024


class Command(QueueCommand):
    help = "The deployment configuration: check PATH, load PATH, show."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        sub = parser.add_subparsers(dest="action", required=True)
        check = sub.add_parser("check")
        check.add_argument("path")
        load = sub.add_parser("load")
        load.add_argument("path")
        load.add_argument("--dry-run", action="store_true")
        sub.add_parser("show")

    def _read(self, path: str) -> str:
        p = Path(path)
        try:
            if p.stat().st_size > MAX_BYTES:
                raise InvalidInput.one(path, f"file is larger than 1 MB ({p.stat().st_size} bytes)")
            return p.read_text()
        except OSError as exc:
            raise InvalidInput.one(path, f"cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise InvalidInput.one(path, "not a UTF-8 text file") from None

    def handle(self, *args, **options):
        action = options["action"]
        if action == "show":
            self.stdout.write(to_instance_yaml(config.current_config()), ending="")
            return
        text = self._read(options["path"])
        if action == "check":
            result = config.check_yaml(text)
            if result.config is None:
                raise InvalidInput(result.errors)
            self._report(result)
            self.stdout.write(f"{options['path']}: valid")
            return
        result, diff = config.load_yaml(text, actor="cli", dry_run=options["dry_run"])
        self._report(result)
        for key, (old, new) in diff.items():
            self.stdout.write(f"  {key}: {old!r} -> {new!r}")
        verb = "would change" if options["dry_run"] else "loaded;"
        self.stdout.write(f"{options['path']}: {verb} {len(diff)} setting(s) changed")

    def _report(self, result) -> None:
        for section in result.ignored_sections:
            self.stderr.write(f"{section}: ignored (not used by concurrency-ui)")
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
