from __future__ import annotations

from ._automation import AutomationCommand


class Command(AutomationCommand):
    help = "Schedules: list; start NAME; stop NAME (audited)."
    kind = "schedule"
