"""`manage.py doctor [--json]`: every troubleshooting check; exit status 1 if any is a problem."""

from __future__ import annotations

import sys

from queueing.services import doctor

from ._base import QueueCommand, finding_lines


class Command(QueueCommand):
    help = "Diagnose why runs do not move: daemons, workers, limits, slot leaks, starvation."

    def handle(self, *args, **options):
        findings = doctor.diagnose()
        report = doctor.report(findings)
        self.emit(options, report, "\n".join(finding_lines(findings, report)))
        if report["problems"]:
            sys.exit(1)
