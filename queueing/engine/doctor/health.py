"""Are the daemons, workers and processes running, and on this database?"""

from __future__ import annotations

from ..supervision import describe_exit
from .facts import (
    LATE_INTERVALS,
    QUEUES,
    DoctorFacts,
    Finding,
    Status,
    ago,
    allowed_age,
    daemon_fact,
)

DAEMON_LABELS = {
    "run_queue": "run-queue daemon",
    "run_monitoring": "run-monitoring daemon",
    "schedules": "schedules daemon",
    "sensors": "sensors daemon",
}
# The Celery queue whose worker runs each daemon's ticks (else "control").
DAEMON_QUEUES = {"schedules": "automation", "sensors": "automation"}


def check_daemon(facts: DoctorFacts, name: str, check: str) -> Finding:
    daemon = daemon_fact(facts, name)
    label = DAEMON_LABELS[name]
    queue = DAEMON_QUEUES.get(name, "control")
    start = (
        f"Start Celery beat and a worker consuming the {queue} queue "
        "(`manage.py dev` starts both; in production run `celery -A concurrency_ui beat` and "
        f"`celery -A concurrency_ui worker -Q {queue}`)."
    )
    if daemon is None or daemon.last_heartbeat is None:
        evidence = [f"no heartbeat of the {label} in this database"]
        control = facts.workers.consumers(queue)
        # Workers listen, yet no daemon ever wrote here: they likely use another database.
        if control and not any(d.last_heartbeat is not None for d in facts.daemons):
            evidence.append(
                f"worker(s) {', '.join(control)} consume the {queue} queue, yet no tick reached "
                "this database: check that beat and the workers use this server's DATABASE_URL"
            )
        return Finding(check, "problem", f"The {label} has never run", tuple(evidence), start)
    age = facts.now - daemon.last_heartbeat
    allowed = allowed_age(facts, daemon)
    where = f" on {daemon.host} (pid {daemon.pid})" if daemon.host else ""
    seen = f"last heartbeat {ago(age)} ago{where}; expected every {daemon.interval_seconds:g} s"
    evidence = [seen]
    evidence += [f"recent error: {e}" for e in daemon.errors[-3:]]
    if age > allowed:
        evidence.append(
            f"healthy means a heartbeat within {allowed:g} s (interval + "
            "concurrency_ui.daemon_heartbeat_tolerance_seconds)"
        )
        return Finding(
            check,
            "problem",
            f"The {label} is not running",
            tuple(evidence),
            start + " If they run, look at the beat and worker logs for a hung tick.",
        )
    if age > LATE_INTERVALS * daemon.interval_seconds:
        return Finding(
            check,
            "warning",
            f"The {label} is late",
            tuple(evidence),
            "A tick may be slow or hung: check the control worker's log and the tick duration.",
        )
    if daemon.errors:
        return Finding(
            check,
            "warning",
            f"The {label} runs but its last ticks failed",
            tuple(evidence),
            "Read the errors on the Daemons page; a failing tick launches nothing.",
        )
    return Finding(check, "ok", f"The {label} is running", tuple(evidence))


def check_run_queue_daemon(facts: DoctorFacts) -> Finding:
    return check_daemon(facts, "run_queue", "run_queue_daemon")


def check_monitoring_daemon(facts: DoctorFacts) -> Finding:
    if not facts.config.monitoring.enabled:
        return Finding(
            "monitoring_daemon",
            "ok",
            "Run monitoring is disabled, so its daemon is not required",
            ("run_monitoring.enabled is false",),
        )
    return check_daemon(facts, "run_monitoring", "monitoring_daemon")


def check_workers(facts: DoctorFacts) -> Finding:
    workers = facts.workers
    if workers.error:
        return Finding(
            "workers",
            "problem",
            "The Celery broker did not answer",
            (workers.error,),
            "Check CELERY_BROKER_URL and that the broker (Redis) is running; without it "
            "nothing is ticked or executed.",
        )
    evidence = [
        f"worker {name} consumes {', '.join(sorted(queues)) or 'no queue'}"
        for name, queues in sorted(workers.queues.items())
    ] or ["no Celery worker answered"]
    missing = [queue for queue in QUEUES if not workers.consumers(queue)]
    if missing:
        evidence += [f"no worker consumes the {queue} queue: {QUEUES[queue]}" for queue in missing]
        return Finding(
            "workers",
            "problem",
            f"No worker consumes the {' and '.join(missing)} queue{'s' if len(missing) > 1 else ''}",
            tuple(evidence),
            "Start a worker for each queue: `celery -A concurrency_ui worker -Q "
            + ",".join(missing)
            + "` (`manage.py dev` starts both).",
        )
    return Finding("workers", "ok", "Workers consume the control and runs queues", tuple(evidence))


def check_processes(facts: DoctorFacts) -> Finding:
    """Children of `manage.py dev` that died and were restarted (or are about to be)."""
    supervisor = facts.supervisor
    if supervisor is None or not supervisor.alive(facts.now):
        evidence = ["no manage.py dev supervisor is running here"]
        if supervisor is not None:
            evidence.append(f"the last one stopped {ago(facts.now - supervisor.updated_at)} ago")
        return Finding(
            "processes",
            "ok",
            "Processes are not supervised by manage.py dev",
            tuple(evidence),
        )
    evidence = []
    down = []
    restarted = []
    for p in supervisor.processes:
        if p.running:
            line = f"{p.name}: running (pid {p.pid})"
            if p.started_at is not None:
                line += f" for {ago(facts.now - p.started_at)}"
        else:
            down.append(p.name)
            line = f"{p.name}: down"
            if p.next_restart_at is not None:
                line += f", restarting in {ago(p.next_restart_at - facts.now)}"
        if p.restarts or p.last_exit_code is not None:
            restarted.append(p.name)
            line += f"; restarted {p.restarts} time(s)"
            if p.last_exit_at is not None:
                line += (
                    f", last exit {ago(facts.now - p.last_exit_at)} ago "
                    f"({describe_exit(p.last_exit_code)})"
                )
        evidence.append(line)
    fix = (
        "Read the output printed above the restart line in the `manage.py dev` terminal "
        "(the whole traceback is there, with the process's prefix)."
    )
    if down:
        return Finding(
            "processes",
            "problem",
            f"{', '.join(down)} exited and {'is' if len(down) == 1 else 'are'} being restarted",
            tuple(evidence),
            fix,
        )
    if restarted:
        return Finding(
            "processes",
            "warning",
            f"{', '.join(restarted)} exited unexpectedly and {'was' if len(restarted) == 1 else 'were'} restarted",
            tuple(evidence),
            fix,
        )
    return Finding("processes", "ok", "Every process of manage.py dev is running", tuple(evidence))


def check_same_database(facts: DoctorFacts) -> Finding:
    evidence = [f"this server's database fingerprint is {facts.instance_id}"]
    status: Status = "ok"
    for daemon in facts.daemons:
        if not daemon.instance_id or daemon.last_heartbeat is None:
            continue
        if daemon.instance_id == facts.instance_id:
            evidence.append(f"{daemon.label}: same fingerprint")
            continue
        where = f" by {daemon.host} (pid {daemon.pid})" if daemon.host else ""
        fresh = facts.now - daemon.last_heartbeat <= allowed_age(facts, daemon)
        evidence.append(
            f"{daemon.label}: last heartbeat{where} {ago(facts.now - daemon.last_heartbeat)} ago "
            f"was written with fingerprint {daemon.instance_id}"
        )
        if fresh:
            # It writes here, so it is this database under another address (alias, proxy).
            status = "problem" if status == "problem" else "warning"
        else:
            status = "problem"
    if status == "ok":
        return Finding(
            "same_database", "ok", "The daemons and this server share the database", tuple(evidence)
        )
    if status == "warning":
        return Finding(
            "same_database",
            "warning",
            "A daemon reaches this database under a different address",
            tuple(evidence),
            "Give the web server, the workers and beat the same DATABASE_URL.",
        )
    return Finding(
        "same_database",
        "problem",
        "The web server and the daemon use different databases",
        tuple(evidence),
        "The daemon's heartbeats stopped here and it was configured for another database: "
        "give the web server, the workers and beat the same DATABASE_URL, then restart them.",
    )
