"""Shared behaviour of the CLI: errors exit 1 with one line per problem, `--json` output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from django.core.management.base import BaseCommand

from queueing.engine.submission import parse_tag_pair
from queueing.engine.types import ConfigError
from queueing.errors import Conflict, InvalidInput, NotFound


def action_parser(sub: Any, name: str) -> argparse.ArgumentParser:
    """A sub-command that also takes `--json` after it (`pools list --json`)."""
    parser = sub.add_parser(name)
    # SUPPRESS: when absent here, a `--json` given before the action still counts.
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    return parser


def tags_from_options(pairs: list[str]) -> dict[str, str]:
    """`--tag KEY=VALUE` options as tags; InvalidInput naming `--tag` for a bad pair."""
    tags = {}
    errors = []
    for pair in pairs:
        try:
            key, value = parse_tag_pair(pair)
        except ValueError as exc:
            errors.append(ConfigError("--tag", str(exc)))
            continue
        tags[key] = value
    if errors:
        raise InvalidInput(errors)
    return tags


MARKS = {"ok": "ok     ", "warning": "WARNING", "problem": "PROBLEM"}


def finding_lines(findings: Any, summary: dict[str, Any]) -> list[str]:
    """A doctor's findings as text: one line per check, its evidence and fix when not ok,
    then the count (`manage.py doctor` and `manage.py dagster doctor`)."""
    lines = []
    for finding in findings:
        lines.append(f"[{MARKS[finding.status]}] {finding.title}")
        if finding.status != "ok":
            lines += [f"    {line}" for line in finding.evidence]
            if finding.fix:
                lines.append(f"    fix: {finding.fix}")
    lines.append(f"{summary['problems']} problem(s), {summary['warnings']} warning(s)")
    return lines


class QueueCommand(BaseCommand):
    json_option = True

    def add_arguments(self, parser):
        if self.json_option:
            parser.add_argument("--json", action="store_true", help="print JSON instead of text")

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except InvalidInput as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            sys.exit(1)
        except (NotFound, Conflict) as exc:
            self.stderr.write(str(exc))
            sys.exit(1)

    def emit(self, options: dict, data: Any, text: str) -> None:
        if options.get("json"):
            self.stdout.write(json.dumps(data, indent=2, default=str))
        else:
            self.stdout.write(text)
