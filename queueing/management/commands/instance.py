from __future__ import annotations

from queueing.engine.config.export import to_instance_dict, to_instance_yaml
from queueing.errors import InvalidInput
from queueing.inputs import read_text_file, read_yaml
from queueing.services import config

from ._base import QueueCommand, action_parser


class Command(QueueCommand):
    help = (
        "The deployment configuration: check PATH, load PATH [--dry-run], "
        "set NAME=VALUE... [--dry-run], show."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        sub = parser.add_subparsers(dest="action", required=True)
        check = action_parser(sub, "check")
        check.add_argument("path")
        load = action_parser(sub, "load")
        load.add_argument("path")
        load.add_argument("--dry-run", action="store_true")
        set_ = action_parser(sub, "set")
        set_.add_argument(
            "assignments",
            nargs="+",
            metavar="NAME=VALUE",
            help="a setting by name (max_concurrent_runs, monitoring.enabled, ...) and its "
            "value in YAML (3, true, [{key: team, limit: 1}])",
        )
        set_.add_argument("--dry-run", action="store_true")
        action_parser(sub, "show")

    def handle(self, *args, **options):
        action = options["action"]
        if action == "show":
            current = config.current_config()
            if options.get("json"):
                self.emit(options, to_instance_dict(current), "")
            else:
                # Exactly the YAML `instance load` accepts back.
                self.stdout.write(to_instance_yaml(current), ending="")
            return
        if action == "set":
            self._set(options)
            return
        path = options["path"]
        text = read_text_file(path)
        if action == "check":
            result = config.check_yaml(text)
            if result.config is None:
                raise InvalidInput(result.errors)
            self._report(result)
            self.emit(
                options, {"path": path, "valid": True, **self._notes(result)}, f"{path}: valid"
            )
            return
        dry_run = options["dry_run"]
        result, diff = config.load_yaml(text, actor="cli", dry_run=dry_run)
        self._report(result)
        lines = [f"  {key}: {old!r} -> {new!r}" for key, (old, new) in diff.items()]
        verb = "would change" if dry_run else "loaded;"
        lines.append(f"{path}: {verb} {len(diff)} setting(s) changed")
        data = {
            "path": path,
            "dry_run": dry_run,
            "changes": {k: {"old": old, "new": new} for k, (old, new) in diff.items()},
            **self._notes(result),
        }
        self.emit(options, data, "\n".join(lines))

    def _set(self, options: dict) -> None:
        """Settings by name through the same service as the Concurrency page and
        `PATCH /api/config/`; each value is read as YAML by the input boundary."""
        changes = {}
        for assignment in options["assignments"]:
            name, sep, text = assignment.partition("=")
            if not sep or not name:
                raise InvalidInput.one(assignment, "expected NAME=VALUE")
            changes[name] = read_yaml(text, prefix=name, root=name)
        dry_run = options["dry_run"]
        _, diff = config.edit_settings(changes, actor="cli", source="cli", dry_run=dry_run)
        lines = [f"  {key}: {old!r} -> {new!r}" for key, (old, new) in diff.items()]
        verb = "would change" if dry_run else "changed"
        lines.append(f"{verb} {len(diff)} setting(s)")
        data = {
            "dry_run": dry_run,
            "changes": {k: {"old": old, "new": new} for k, (old, new) in diff.items()},
        }
        self.emit(options, data, "\n".join(lines))

    def _notes(self, result) -> dict:
        return {
            "ignored_sections": list(result.ignored_sections),
            "warnings": [{"path": w.path, "message": w.message} for w in result.warnings],
        }

    def _report(self, result) -> None:
        for section in result.ignored_sections:
            self.stderr.write(f"{section}: ignored (not used by concurrency-ui)")
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
