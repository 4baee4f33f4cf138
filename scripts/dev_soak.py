"""The embedded default under load for a while: `make dev`, as a new user runs it.

    python scripts/dev_soak.py                          # 30 minutes, 360 demo runs (make dev-soak)
    python scripts/dev_soak.py --seconds 150 --runs 40  # what CI runs (tests/faults/test_dev_soak.py)

Starts `manage.py migrate`, `bootstrap` and `manage.py dev` on SQLite and the embedded
broker in a fresh VAR_DIR (whatever DATABASE_URL / CELERY_BROKER_URL this shell has), logs in
as admin, submits the runs through the REST API at a steady pace over the first 80 % of the
time, and meanwhile loads every dashboard page (Troubleshooting and Daemons included, whose
worker inspection goes through the broker) every few seconds, as a browser would. At the end
every run must have finished with its expected status, no page may have failed, no child of
`manage.py dev` may have restarted, the broker may have set no message aside, and SIGTERM must
stop everything cleanly. Prints the figures; exit status 0 when all of that holds.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (job, share, expected status): the demo code location, `always_fails` fails on purpose.
MIX = [
    ("quick", 4, "SUCCESS"),
    ("redshift_etl", 2, "SUCCESS"),
    ("snowflake_sync", 2, "SUCCESS"),
    ("api_ingest", 2, "SUCCESS"),
    ("parallel_fanout", 2, "SUCCESS"),
    ("orders_pipeline", 1, "SUCCESS"),
    ("orders_reporting", 1, "SUCCESS"),
    ("always_fails", 1, "FAILURE"),
]
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
PAGES = [
    "/",
    "/runs/?tab=queued",
    "/runs/?tab=in_progress",
    "/runs/?tab=finished",
    "/launchpad/",
    "/deployment/concurrency/",
    "/deployment/configuration/",
    "/deployment/daemons/",
    "/troubleshooting/",
]
# Fragments the pages poll with htmx while they are open.
FRAGMENTS = ["/deployment/daemons/", "/runs/?tab=in_progress"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Client:
    """A logged-in browser (session cookie) that also holds an API token."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.jar)
        )
        self.token = ""

    def request(self, method, path, body=None, headers=None, timeout=30.0):
        data = None if body is None else body.encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with self.opener.open(req, timeout=timeout) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as exc:  # not listening (yet), reset, timeout
            return 0, f"{type(exc).__name__}: {exc}"

    def csrf(self) -> str:
        return next((c.value for c in self.jar if c.name == "csrftoken"), "")

    def login(self, password: str, api_token: bool = True) -> None:
        """Log in as admin; with `api_token`, also get an API token (a new one replaces the
        admin's previous token, so only one client asks for one)."""
        status, page = self.request("GET", "/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert status == 200 and token, f"login page: {status}"
        form = urllib.parse.urlencode(
            {"username": "admin", "password": password, "csrfmiddlewaretoken": token.group(1)}
        )
        status, _ = self.request(
            "POST",
            "/login/",
            form,
            {"Content-Type": "application/x-www-form-urlencoded", "Referer": self.base + "/"},
        )
        assert status == 200, f"login: {status}"
        if not api_token:
            return
        status, body = self.request(
            "POST", "/api/token/", "", {"X-CSRFToken": self.csrf(), "Referer": self.base + "/"}
        )
        assert status == 200, f"token: {status} {body[:200]}"
        self.token = json.loads(body)["token"]

    def api(self, method, path, payload=None):
        headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}
        body = None if payload is None else json.dumps(payload)
        status, text = self.request(method, path, body, headers)
        return status, (json.loads(text) if text.strip().startswith(("{", "[")) else text)


class Soak:
    def __init__(self, args):
        self.args = args
        self.var = Path(args.var_dir or tempfile.mkdtemp(prefix="dev-soak-"))
        self.port = args.port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "CODE_LOCATIONS")
        }
        self.env.update(
            VAR_DIR=str(self.var),
            DEMO_SLEEP_SCALE=str(args.sleep_scale),
            PYTHONUNBUFFERED="1",
        )
        self.stop = threading.Event()
        self.page_ms: dict[str, list[float]] = defaultdict(list)
        self.page_errors: list[str] = []
        self.submitted: dict[str, str] = {}  # run id -> expected status
        self.submit_errors: list[str] = []
        self.max_restarts: dict[str, int] = {}
        self.peak = Counter()  # most runs seen at once: queued, in progress
        self.latest: dict[str, str] = {}
        self.submitting = True
        self.all_done_at: float | None = None
        self.dev: subprocess.Popen | None = None
        self.last_run: str | None = None

    def manage(self, *command: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode:
            raise SystemExit(f"manage.py {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    # --- activities ---------------------------------------------------------------------

    def load_pages(self, client: Client) -> None:
        """Every page every `--page-every` seconds, plus the fragments pages poll."""
        while not self.stop.is_set():
            started = time.monotonic()
            recent = self.last_run
            paths = PAGES + ([f"/runs/{recent}/"] if recent else [])
            for path in paths + [f"{p}#htmx" for p in FRAGMENTS]:
                if self.stop.is_set():
                    return
                url, _, htmx = path.partition("#")
                headers = {"HX-Request": "true"} if htmx else {}
                t0 = time.monotonic()
                status, _ = client.request("GET", url, headers=headers, timeout=60)
                elapsed = (time.monotonic() - t0) * 1000
                key = "run detail" if url.startswith("/runs/") and "tab" not in url else path
                self.page_ms[key].append(elapsed)
                if status not in (200, 286):  # 286: htmx "stop polling", a success
                    self.page_errors.append(f"{time.strftime('%H:%M:%S')} GET {path}: {status}")
            self.stop.wait(max(0.0, self.args.page_every - (time.monotonic() - started)))

    def submit_runs(self, client: Client, deadline: float) -> None:
        wheel = [(job, expected) for job, share, expected in MIX for _ in range(share)]
        interval = max(0.0, deadline - time.monotonic()) / max(1, self.args.runs)
        for n in range(self.args.runs):
            if self.stop.is_set():
                return
            job, expected = wheel[(n * 7) % len(wheel)]
            status, body = client.api(
                "POST", "/api/runs/", {"job": job, "tags": {"soak": "dev", "n": str(n)}}
            )
            if status == 201:
                self.submitted[body["run_id"]] = expected
                self.last_run = body["run_id"]
            else:
                self.submit_errors.append(f"submit {job}: {status} {str(body)[:200]}")
            self.stop.wait(interval)

    def watch_supervisor(self) -> None:
        while not self.stop.is_set():
            try:
                state = json.loads((self.var / "supervisor.json").read_text())
                for p in state["processes"]:
                    self.max_restarts[p["name"]] = max(
                        self.max_restarts.get(p["name"], 0), p["restarts"]
                    )
            except (OSError, ValueError, KeyError):
                pass
            self.stop.wait(2)

    def watch_runs(self, client: Client) -> None:
        """Every 3 s: the runs' statuses, the peaks, and when the last one finished."""
        while not self.stop.is_set():
            statuses = self.statuses(client)
            if statuses:
                self.latest = statuses
                live = Counter(s for s in statuses.values() if s not in FINISHED)
                self.peak["queued"] = max(self.peak["queued"], live["QUEUED"])
                in_progress = live["STARTING"] + live["STARTED"] + live["CANCELING"]
                self.peak["in progress"] = max(self.peak["in progress"], in_progress)
                submitted = list(self.submitted)
                if (
                    not self.submitting
                    and self.all_done_at is None
                    and all(statuses.get(r) in FINISHED for r in submitted)
                ):
                    self.all_done_at = time.monotonic()
            self.stop.wait(3)

    def statuses(self, client: Client) -> dict[str, str]:
        out: dict[str, str] = {}
        offset = 0
        while True:
            query = urllib.parse.urlencode({"tag": "soak=dev", "limit": 1000, "offset": offset})
            status, body = client.api("GET", f"/api/runs/?{query}")
            if status != 200:
                return out
            out.update({r["run_id"]: r["status"] for r in body["results"]})
            offset += len(body["results"])
            if not body["results"] or offset >= body["count"]:
                return out

    # --- the soak -----------------------------------------------------------------------

    def run(self) -> int:
        print(f"dev soak: {self.args.seconds} s, {self.args.runs} runs, VAR_DIR={self.var}")
        self.manage("migrate", "--noinput")
        self.manage("bootstrap")
        password = (self.var / "admin-password.txt").read_text().strip()
        log_path = self.var / "dev.log"
        log = open(log_path, "wb")  # noqa: SIM115
        self.dev = subprocess.Popen(
            [sys.executable, "manage.py", "dev", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            return self._soak(password, log_path)
        finally:
            self.stop.set()
            if self.dev.poll() is None:
                os.killpg(self.dev.pid, signal.SIGKILL)

    def _soak(self, password: str, log_path: Path) -> int:
        client = Client(self.base)
        for _ in range(120):
            if client.request("GET", "/login/", timeout=5)[0] == 200:
                break
            time.sleep(1)
        client.login(password)
        pages = Client(self.base)
        pages.login(password, api_token=False)  # pages need the session only

        started = time.monotonic()
        end = started + self.args.seconds
        watcher = Client(self.base)
        watcher.token = client.token
        threads = [
            threading.Thread(target=self.load_pages, args=(pages,), daemon=True),
            threading.Thread(target=self.watch_supervisor, daemon=True),
            threading.Thread(target=self.watch_runs, args=(watcher,), daemon=True),
        ]
        for thread in threads:
            thread.start()
        self.submit_runs(client, started + 0.8 * self.args.seconds)
        submitted_at = time.monotonic()
        self.submitting = False

        # Pages keep loading for the rest of the time, and until the last run finished.
        while True:
            now = time.monotonic()
            if (self.all_done_at is not None and now >= end) or (
                now >= end + self.args.drain_seconds
            ):
                break
            time.sleep(1)
        drained_at = time.monotonic()
        self.stop.set()
        for thread in threads:
            thread.join(70)
        statuses = self.statuses(client)

        # Only SIGTERM stops everything, cleanly.
        os.killpg(self.dev.pid, signal.SIGTERM)
        try:
            exit_code = self.dev.wait(60)
        except subprocess.TimeoutExpired:
            exit_code = None
        return self._report(statuses, started, submitted_at, drained_at, exit_code, log_path)

    def _report(self, statuses, started, submitted_at, drained_at, exit_code, log_path) -> int:
        problems: list[str] = []
        by_status = Counter(statuses.get(r, "missing") for r in self.submitted)
        wrong = [
            f"{r[:8]} {statuses.get(r, 'missing')} (expected {e})"
            for r, e in self.submitted.items()
            if statuses.get(r) != e
        ]
        if len(self.submitted) != self.args.runs or self.submit_errors:
            problems.append(f"{len(self.submitted)} of {self.args.runs} runs submitted")
            problems += self.submit_errors[:5]
        if wrong:
            problems.append(f"{len(wrong)} run(s) not finished as expected: {wrong[:5]}")
        if self.page_errors:
            problems.append(f"{len(self.page_errors)} page load(s) failed: {self.page_errors[:5]}")
        restarted = {name: n for name, n in self.max_restarts.items() if n}
        if restarted or not self.max_restarts:
            problems.append(f"children restarted: {restarted or 'no supervisor state seen'}")
        unreadable = list((self.var / "broker" / "unreadable").glob("*"))
        if unreadable:
            problems.append(f"broker set {len(unreadable)} message(s) aside: {unreadable[:3]}")
        log = log_path.read_text(errors="replace")
        for marker in ("Unrecoverable error", "exited unexpectedly", "JSONDecodeError"):
            if marker in log:
                problems.append(f"manage.py dev log contains {marker!r}")
        if exit_code != 0:
            problems.append(f"manage.py dev exit status after SIGTERM: {exit_code}")

        last_after = (
            f"{max(0.0, self.all_done_at - submitted_at):.0f} s"
            if self.all_done_at is not None
            else "never"
        )
        loads = sum(len(v) for v in self.page_ms.values())
        all_ms = [ms for values in self.page_ms.values() for ms in values]
        print(
            f"\ndev soak figures ({time.strftime('%Y-%m-%d %H:%M')}, Python "
            f"{sys.version.split()[0]}, DEMO_SLEEP_SCALE={self.args.sleep_scale}):\n"
            f"  duration {drained_at - started:.0f} s (submitting {submitted_at - started:.0f} s, "
            f"every run finished {last_after} after the last submit)\n"
            f"  runs: {len(self.submitted)} submitted through the API, "
            f"{dict(sorted(by_status.items()))}; at most {self.peak['queued']} queued and "
            f"{self.peak['in progress']} in progress at once (sampled every 3 s)\n"
            f"  pages: {loads} loads ({len(PAGES) + 1} pages and {len(FRAGMENTS)} htmx fragments "
            f"every {self.args.page_every:g} s), {len(self.page_errors)} failed; "
            f"p50 {percentile(all_ms, 0.5):.0f} ms, p95 {percentile(all_ms, 0.95):.0f} ms, "
            f"max {max(all_ms, default=0):.0f} ms"
        )
        for page, values in sorted(self.page_ms.items()):
            print(
                f"    {page:32} {len(values):5} loads  median {statistics.median(values):6.0f} ms"
                f"  p95 {percentile(values, 0.95):6.0f} ms  max {max(values):6.0f} ms"
            )
        print(
            f"  restarts of manage.py dev's children: {self.max_restarts or 'none seen'}; "
            f"broker messages set aside: {len(unreadable)}; exit status after SIGTERM: {exit_code}"
        )
        if problems:
            print("\nFAILED:\n  " + "\n  ".join(problems))
            print(f"(log: {log_path})")
            return 1
        print("\nOK: every run finished as expected, no page failed, no child restarted.")
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1800)
    parser.add_argument("--runs", type=int, default=360)
    parser.add_argument("--page-every", type=float, default=3.0)
    parser.add_argument("--sleep-scale", type=float, default=1.0, help="DEMO_SLEEP_SCALE")
    parser.add_argument("--drain-seconds", type=float, default=600, help="after --seconds")
    parser.add_argument("--var-dir", help="default: a new temporary directory")
    parser.add_argument("--port", type=int)
    return Soak(parser.parse_args()).run()


if __name__ == "__main__":
    raise SystemExit(main())
