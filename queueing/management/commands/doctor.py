"""`manage.py doctor [--json]`: every troubleshooting check; exit status 1 if any is a problem."""

from __future__ import annotations

import sys

from queueing.services import doctor

from ._base import QueueCommand

MARKS = {"ok": "ok     ", "warning": "WARNING", "problem": "PROBLEM"}


class Command(QueueCommand):
    help = "Diagnose why runs do not move: daemons, workers, limits, slot leaks, starvation."

    def handle(self, *args, **options):
        findings = doctor.diagnose()
        report = doctor.report(findings)
        lines = []
        for finding in findings:
            lines.append(f"[{MARKS[finding.status]}] {finding.title}")
            if finding.status != "ok":
                lines += [f"    {line}" for line in finding.evidence]
                if finding.fix:
                    lines.append(f"    fix: {finding.fix}")
        lines.append(f"{report['problems']} problem(s), {report['warnings']} warning(s)")
        self.emit(options, report, "\n".join(lines))
        if report["problems"]:
            sys.exit(1)
