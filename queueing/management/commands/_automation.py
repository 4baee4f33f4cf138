"""`manage.py schedules` and `manage.py sensors`: list, start NAME, stop NAME (audited)."""

from __future__ import annotations

from typing import Any

from queueing.services import automation

from ._base import QueueCommand, action_parser


def _line(data: dict[str, Any]) -> str:
    when = data.get("cron_schedule") or f"every {data.get('minimum_interval_seconds')} s"
    last = data["ticks"][0] if data["ticks"] else None
    last_text = f"last tick {last['outcome']} {last['message']}".strip() if last else "no tick yet"
    next_tick = data["next_tick"].isoformat() if data["next_tick"] else "-"
    return (
        f"{data['name']:<28} {data['status']:<8} job {data['job_name']:<22} {when:<16} "
        f"next {next_tick}  {last_text}"
    )


class AutomationCommand(QueueCommand):
    kind = ""

    def add_arguments(self, parser):
        super().add_arguments(parser)
        sub = parser.add_subparsers(dest="action", required=True)
        action_parser(sub, "list")
        for name in ("start", "stop"):
            action_parser(sub, name).add_argument("name")

    def handle(self, *args, **options):
        action = options["action"]
        if action == "list":
            data = automation.automation_list(self.kind)
            self.emit(options, data, "\n".join(_line(d) for d in data) or f"no {self.kind}s")
            return
        data = automation.set_status(
            self.kind, options["name"], running=action == "start", actor="cli"
        )
        self.emit(options, data, f"{self.kind} {data['name']} is {data['status'].lower()}")
