from __future__ import annotations

from ._automation import AutomationCommand


class Command(AutomationCommand):
    help = "Sensors: list; start NAME; stop NAME (audited)."
    kind = "sensor"
