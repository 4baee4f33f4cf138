"""`manage.py dagster …`: the attached Dagster deployment (DAGSTER_HOME) from the shell.

runs [--json]              queued runs in the daemon's order with their verdict; in progress
explain RUN_ID [--json]    every gate of a queued run, with the Dagster quirks that decide it
predict [--json]           run ids the daemon's next iteration launches, in order
doctor [--json]            the doctor's checks on the deployment (exit 1 on a problem)
pools [--json]             pools with limits, holders and waiting steps
set-pool KEY N | delete-pool KEY | free-slots RUN_ID | terminate RUN_ID
                           changes, only with DAGSTER_WRITES_ENABLED=true (audited)
"""

from __future__ import annotations

import sys

from queueing import dagster_source
from queueing.dagster_source import present
from queueing.dagster_source.doctor import diagnose
from queueing.dagster_source.queue import decision, predict
from queueing.errors import NotFound
from queueing.services.doctor import report

from ._base import QueueCommand, finding_lines


class Command(QueueCommand):
    help = "Explain, predict and diagnose the run queue of the Dagster deployment in DAGSTER_HOME."
    json_option = False

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        for name in ("runs", "predict", "doctor", "pools"):
            sub.add_parser(name).add_argument("--json", action="store_true")
        explain = sub.add_parser("explain")
        explain.add_argument("run_id")
        explain.add_argument("--json", action="store_true")
        set_pool = sub.add_parser("set-pool")
        set_pool.add_argument("key")
        set_pool.add_argument("limit", type=int)
        sub.add_parser("delete-pool").add_argument("key")
        sub.add_parser("free-slots").add_argument("run_id")
        sub.add_parser("terminate").add_argument("run_id")

    def handle(self, *args, **options):
        try:
            state = dagster_source.load_state()
        except dagster_source.DagsterUnavailable as exc:
            self.stderr.write(str(exc))
            sys.exit(1)
        action = options["action"]
        if "run_id" in options:
            # A unique prefix of at least 8 characters names a run, as everywhere.
            options["run_id"] = dagster_source.resolve_run_id(state, options["run_id"])
        writes = {
            "set-pool": self.set_pool,
            "delete-pool": self.delete_pool,
            "free-slots": self.free_slots,
            "terminate": self.terminate,
        }
        if action in writes:
            writes[action](options)
            return
        getattr(self, action)(state, options)

    def header(self, state) -> str:
        d = state.deployment
        return f"Dagster {d.dagster_version} deployment {d.home} ({d.storage})"

    def runs(self, state, options):
        tick = decision(state)
        queued = present.queued_rows(state, tick)
        in_progress = present.in_progress_rows(state)
        lines = [self.header(state), f"{len(queued)} queued (in the daemon's order):"]
        for row in queued:
            verdict = "LAUNCH" if row["verdict"] == "launch" else "wait  "
            lines.append(
                f"  {row['position']:>4} {row['run_id'][:8]} {row['job']} p{row['priority']} "
                f"{verdict} {'' if row['verdict'] == 'launch' else row['reason']}".rstrip()
            )
            lines += [f"         Dagster quirk: {n}" for n in row["notes"]]
        lines.append(f"{len(in_progress)} in progress:")
        for row in in_progress:
            held = ", ".join(f"{s['pool']}:{s['step']}" for s in row["slots"] if s["holds"])
            lines.append(
                f"  {row['run_id'][:8]} {row['job']} {row['status']}"
                + (f" holds {held}" if held else "")
            )
        data = {
            "deployment": present.deployment_dict(state),
            "queued": queued,
            "in_progress": in_progress,
        }
        self.emit(options, data, "\n".join(lines))

    def explain(self, state, options):
        data = present.explain(state, decision(state), options["run_id"])
        if data is None:
            raise NotFound(
                f"run {options['run_id']} is neither queued, in progress nor holding pool slots "
                "in the Dagster deployment"
            )
        self.emit(options, data, present.explain_text(data))

    def predict(self, state, options):
        launch = predict(state)
        lines = [self.header(state)]
        if not launch:
            lines.append("the daemon's next iteration launches nothing")
        lines += list(launch)
        self.emit(
            options,
            {"deployment": present.deployment_dict(state), "launch": list(launch)},
            "\n".join(lines),
        )

    def doctor(self, state, options):
        findings = diagnose(state)
        data = {"deployment": present.deployment_dict(state), **report(findings)}
        lines = [self.header(state), *finding_lines(findings, data)]
        self.emit(options, data, "\n".join(lines))
        if data["problems"]:
            sys.exit(1)

    def pools(self, state, options):
        rows = present.pool_rows(state)
        lines = [self.header(state)]
        for row in rows:
            lines.append(
                f"{row['key']}: {row['limit_text']}, {len(row['holders'])} held, "
                f"{len(row['waiting'])} waiting, {row['queued_runs']} queued run(s) use it"
            )
            for holder in row["holders"]:
                lines.append(
                    f"    held by {holder['run_id'][:8]} ({holder['run_status']}) step {holder['step']}"
                )
        self.emit(
            options, {"deployment": present.deployment_dict(state), "pools": rows}, "\n".join(lines)
        )

    # --- changes (DAGSTER_WRITES_ENABLED) -------------------------------------------------

    def set_pool(self, options):
        from queueing.dagster_source import writes

        old = writes.set_pool_limit(options["key"], options["limit"], actor="cli")
        self.stdout.write(
            f"pool {options['key']}: {old if old is not None else 'no limit'} -> {options['limit']}"
        )

    def delete_pool(self, options):
        from queueing.dagster_source import writes

        old = writes.delete_pool_limit(options["key"], actor="cli")
        self.stdout.write(f"pool {options['key']}: limit {old} removed")

    def free_slots(self, options):
        from queueing.dagster_source import writes

        freed = writes.free_run_slots(options["run_id"], actor="cli")
        self.stdout.write(
            f"run {options['run_id']}: {freed} pool entr{'y' if freed == 1 else 'ies'} freed"
        )

    def terminate(self, options):
        from queueing.dagster_source import writes

        writes.terminate_queued(options["run_id"], actor="cli")
        self.stdout.write(f"run {options['run_id']}: canceled")
