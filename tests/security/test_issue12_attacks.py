"""Issue 12, "Security and bad input, round two": each attack as the report made it, against
the API, the dashboard and the command line. Each one worked on the code before the issue
(a leaked secret, a 500, a bomb stored, a secret shown); here it is refused or hidden."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from html import unescape

import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from queueing.models import DaemonHeartbeat, Pool, Run
from queueing.services import config as config_service
from queueing.services import runs
from tests.api.conftest import make_user
from tests.support.state import snapshot

pytestmark = pytest.mark.django_db

SECRET = "django-insecure-the-server-key-" + "k3y" * 12
DB_PASSWORD = "hunter2-db-pass"


@pytest.fixture(autouse=True)
def _secret_environment(monkeypatch):
    monkeypatch.setenv("SECRET_KEY_UNDER_TEST", SECRET)
    monkeypatch.setenv("DATABASE_URL_UNDER_TEST", f"postgres://u:{DB_PASSWORD}@db:5432/x")
    monkeypatch.setattr("queueing.services.run_queue.send_launches", lambda ids: None)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def client_for(role: str) -> Client:
    client = Client()
    client.force_login(make_user(role))
    return client


@pytest.fixture
def viewer() -> Client:
    return client_for("viewer")


@pytest.fixture
def operator() -> Client:
    return client_for("operator")


@pytest.fixture
def admin() -> Client:
    return client_for("admin")


def post_json(client: Client, url: str, body, method: str = "post"):
    data = body if isinstance(body, str) else json.dumps(body)
    return getattr(client, method)(url, data, content_type="application/json")


def refused(response, status: int = 400) -> list[tuple[str, str]]:
    assert response.status_code == status, response.content[:500]
    return [(e["path"], e["message"]) for e in response.json()["errors"]]


def cli(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    try:
        call_command(*args, stdout=io.StringIO(), stderr=err)
        return 0, err.getvalue()
    except SystemExit as exc:
        return exc.code, err.getvalue()


def bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        lines.append(f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def deep_json(levels: int) -> str:
    return "[" * levels + "]" * levels


def nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"a": value}
    return value


# --- 1. reading the server's environment -----------------------------------------------------

ENV_ATTACK = "run_queue:\n  max_concurrent_runs: {env: SECRET_KEY_UNDER_TEST}\n"


def test_a_viewers_simulation_does_not_read_the_server_environment(viewer):
    errors = refused(post_json(viewer, "/api/simulate/", {"yaml": ENV_ATTACK}))

    assert errors == [
        (
            "run_queue.max_concurrent_runs",
            "{env: SECRET_KEY_UNDER_TEST} is not resolved here: the server's environment is "
            "read only for an admin's import, edit or simulation; write the number itself",
        )
    ]


@pytest.mark.parametrize("variable", ["SECRET_KEY_UNDER_TEST", "DATABASE_URL_UNDER_TEST"])
def test_an_admins_dry_run_and_the_cli_name_the_variable_never_its_value(admin, variable, tmp_path):
    text = ENV_ATTACK.replace("SECRET_KEY_UNDER_TEST", variable)

    answers = [
        post_json(admin, "/api/config/?dry_run=1", {"yaml": text}, "put"),
        post_json(admin, "/api/simulate/", {"yaml": text}),
    ]
    path = tmp_path / "dagster.yaml"
    path.write_text(text)
    status, stderr = cli("instance", "check", str(path))

    shown = " ".join(str(refused(a)) for a in answers) + stderr
    assert status == 1 and variable in stderr
    for leak in (SECRET[16:40], DB_PASSWORD, "k3yk3y", "postgres://"):
        assert leak not in shown


# --- 2. a 400-byte YAML bomb, and run configs without a size ------------------------------------


def test_a_yaml_bomb_is_refused_at_once_by_the_config_the_simulator_and_the_launchpad(
    admin, operator
):
    text = bomb()
    check = snapshot()
    started = time.monotonic()

    config = refused(post_json(admin, "/api/config/", {"yaml": text}, "put"))
    simulated = refused(post_json(admin, "/api/simulate/", {"yaml": text}))
    launch = operator.post(reverse("launchpad"), {"job": "quick", "run_config": text})

    assert time.monotonic() - started < 5
    for errors in (config, simulated):
        assert "an alias counts as every value it repeats" in errors[0][1]
    assert launch.status_code == 400
    assert "an alias counts as every value it repeats" in launch.content.decode()
    check()


def test_a_run_config_over_its_size_cap_is_refused(operator, settings):
    settings.RUN_CONFIG_MAX_BYTES = 2048
    big = {"ops": {"load_orders": {"config": {"table": "x" * 3000}}}}
    check = snapshot()

    errors = refused(post_json(operator, "/api/runs/", {"job": "redshift_etl", "run_config": big}))

    assert errors[0][0] == "run_config"
    assert "bytes (RUN_CONFIG_MAX_BYTES)" in errors[0][1]
    check()


def test_tags_over_their_size_cap_are_refused(operator, settings):
    settings.RUN_TAGS_MAX_BYTES = 1024
    tags = {f"k{i}": "v" * 100 for i in range(20)}

    errors = refused(post_json(operator, "/api/runs/", {"job": "quick", "tags": tags}))

    assert errors[0][0] == "tags" and "(RUN_TAGS_MAX_BYTES)" in errors[0][1]
    assert not Run.objects.exists()


# --- 3. server errors on bad input ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "method"),
    [("/api/runs/", "post"), ("/api/config/", "put"), ("/api/simulate/", "post")],
)
def test_json_nested_100000_deep_is_a_400(admin, url, method):
    check = snapshot()

    errors = refused(post_json(admin, url, deep_json(100_000), method))

    assert "nested deeper than 32 levels (INPUT_MAX_DEPTH)" in errors[0][1]
    check()


def test_a_viewer_cannot_crash_the_simulator_with_depth(viewer):
    body = '{"settings": {"max_concurrent_runs": ' + deep_json(100_000) + "}}"

    assert refused(post_json(viewer, "/api/simulate/", body))[0][0].startswith("settings.")


def test_a_run_config_or_a_document_900_deep_is_a_400(admin, operator):
    check = snapshot()

    submit = refused(
        post_json(operator, "/api/runs/", {"job": "quick", "run_config": {"ops": nested(900)}})
    )
    document = refused(post_json(admin, "/api/config/", {"document": nested(900)}, "put"))

    assert submit[0][0].startswith("run_config.ops.a.a")
    assert document[0][0].startswith("document.a.a")
    check()


NOT_JSON_YAML = [
    ("ops:\n  load_orders: !!binary aGVsbG8=\n", "!!binary is not accepted"),
    ("ops: !!set {a, b}\n", "!!set is not accepted"),
    ("ops:\n  x: .inf\n", ".inf is not a finite number"),
    ("ops:\n  x: .nan\n", ".nan is not a finite number"),
    ("ops:\n  x: " + "9" * 5000 + "\n", "outside the 64-bit range"),
    ("ops: " + "[" * 3000 + "]" * 3000 + "\n", "nested deeper than 32 levels"),
]


@pytest.mark.parametrize(("text", "words"), NOT_JSON_YAML)
def test_the_launchpad_refuses_yaml_json_cannot_hold(operator, text, words):
    for url in (reverse("launchpad"), reverse("launchpad-validate")):
        response = operator.post(url, {"job": "redshift_etl", "run_config": text})

        assert response.status_code in (200, 400)  # validate answers 200 with the errors
        assert words in response.content.decode()
    assert not Run.objects.exists()


DATES = "ops:\n  load_orders:\n    config:\n      table: 2001-12-14\n      2001-12-15: key\n"


def test_dates_and_date_keys_are_the_text_written_from_the_launchpad_and_the_cli(
    operator, tmp_path
):
    # Before: a date or a date key made a 500 (TypeError while storing the JSON).
    launched = operator.post(reverse("launchpad"), {"job": "redshift_etl", "run_config": DATES})
    path = tmp_path / "run.yaml"
    path.write_text(DATES)
    status, stderr = cli("submit", "redshift_etl", "--config", str(path))

    assert launched.status_code == 302 and status == 0, stderr
    for run in Run.objects.all():
        assert run.run_config["ops"]["load_orders"]["config"] == {
            "table": "2001-12-14",
            "2001-12-15": "key",
        }


@pytest.mark.parametrize(("text", "words"), NOT_JSON_YAML)
def test_submit_with_such_a_file_prints_path_message_lines_not_a_traceback(tmp_path, text, words):
    path = tmp_path / "run.yaml"
    path.write_text(text)

    status, stderr = cli("submit", "redshift_etl", "--config", str(path))

    assert status == 1 and words in stderr
    assert "Traceback" not in stderr
    assert all(": " in line for line in stderr.splitlines())
    assert not Run.objects.exists()


# --- 4. an accepted setting that breaks a daemon ------------------------------------------------


def test_a_retention_of_a_million_days_is_refused_everywhere(admin):
    text = "concurrency_ui:\n  wait_history_retention_days: 1000000\n"

    errors = refused(post_json(admin, "/api/config/", {"yaml": text}, "put"))

    assert errors == [
        (
            "concurrency_ui.wait_history_retention_days",
            "1000000 is too large: the maximum is 36500",
        )
    ]


# --- 5. secrets and internals shown to viewers -----------------------------------------------

STORAGE = (
    "storage:\n  postgres:\n    postgres_url: postgresql://dagster:hunter2@db:5432/dagster\n"
    "    postgres_db:\n      password: hunter2\n      username: dagster\n"
    "      hostname: {env: DAGSTER_PG_HOST}\n"
)


def test_kept_verbatim_secrets_are_masked_for_viewers_and_operators_on_every_page(
    viewer, operator, admin
):
    config_service.load_yaml(STORAGE, actor="test")

    for client in (viewer, operator):
        shown = [
            client.get("/api/config/").content.decode(),
            client.get(reverse("configuration")).content.decode(),
            client.get(reverse("configuration-export")).content.decode(),
        ]
        for text in shown:
            assert "hunter2" not in text
            assert "dagster:********@db" in text or "dagster:********@db" in text.replace(
                "\\u002A", "*"
            )
        document = client.get("/api/config/").json()["document"]
        assert document["storage"]["postgres"]["postgres_db"] == {
            "password": "********",
            "username": "dagster",
            "hostname": {"env": "DAGSTER_PG_HOST"},  # a variable's name is not a secret
        }
    exported = admin.get(reverse("configuration-export")).content.decode()
    assert yaml.safe_load(exported)["storage"]["postgres"]["postgres_db"]["password"] == "hunter2"
    assert "hunter2" in admin.get("/api/config/").content.decode()


def test_a_run_configs_secrets_are_masked_below_admin(viewer, admin):
    run = runs.submit(
        "redshift_etl",
        run_config={"resources": {"warehouse": {"config": {"password": "hunter2"}}}},
        actor="test",
    )

    assert "hunter2" not in viewer.get(f"/api/runs/{run.run_id}/").content.decode()
    assert "hunter2" not in viewer.get(reverse("run-detail", args=[run.run_id])).content.decode()
    assert "hunter2" in admin.get(f"/api/runs/{run.run_id}/").content.decode()


def test_viewers_see_the_exception_not_the_traceback(viewer, operator):
    run = runs.submit("quick", actor="test")
    step = run.steps.first()
    step.status = "FAILURE"
    step.error = (
        'Traceback (most recent call last):\n  File "/srv/app/secret_path.py", line 1\n'
        "ValueError: boom"
    )
    step.save()
    DaemonHeartbeat.objects.create(
        daemon="run_queue",
        last_heartbeat="2026-01-01T00:00:00Z",
        errors=[
            {"at": "2026-01-01T00:00:00+00:00", "message": "OSError: x", "traceback": "/srv/x"}
        ],
    )

    for url in (f"/api/runs/{run.run_id}/", reverse("run-detail", args=[run.run_id])):
        assert "ValueError: boom" in viewer.get(url).content.decode()
        assert "/srv/app" not in viewer.get(url).content.decode()
        assert "/srv/app" in operator.get(url).content.decode()
    (daemon,) = [d for d in viewer.get("/api/daemons/").json() if d["daemon"] == "run_queue"]
    assert daemon["errors"] == [{"at": "2026-01-01T00:00:00+00:00", "message": "OSError: x"}]
    operator_daemons = operator.get("/api/daemons/").json()
    assert operator_daemons[0]["errors"][0]["traceback"] == "/srv/x"


def test_the_sqlite_file_and_var_are_readable_by_their_owner_only(tmp_path, settings):
    var = tmp_path / "var"
    env = {
        **os.environ,
        "VAR_DIR": str(var),
        "DJANGO_SETTINGS_MODULE": "concurrency_ui.settings",
        "PYTHONPATH": str(settings.BASE_DIR),
    }
    env.pop("DATABASE_URL", None)
    code = "import django; django.setup()"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=tmp_path, umask=0o022)

    assert oct(var.stat().st_mode & 0o777) == "0o700"
    assert oct((var / "concurrency_ui.sqlite3").stat().st_mode & 0o777) == "0o600"


# --- 6. quotas ---------------------------------------------------------------------------------


def test_the_submit_rate_is_per_user_and_counts_the_api_and_the_launchpad(operator, settings):
    settings.SUBMIT_RATE = "3/minute"
    answers = [post_json(operator, "/api/runs/", {"job": "quick"}).status_code for _ in range(3)]
    over = post_json(operator, "/api/runs/", {"job": "quick"})
    launch = operator.post(reverse("launchpad"), {"job": "quick", "run_config": ""})

    assert answers == [201, 201, 201]
    assert over.status_code == 429 and "Retry-After" in over
    assert launch.status_code == 429 and "SUBMIT_RATE" in launch.content.decode()
    assert Run.objects.count() == 3
    # Another user has a budget of their own.
    assert post_json(client_for("admin"), "/api/runs/", {"job": "quick"}).status_code == 201


def test_a_full_queue_refuses_submits_and_the_overview_and_the_doctor_say_so(
    operator, admin, monkeypatch
):
    from queueing.engine.doctor.facts import WorkerFacts
    from queueing.services import doctor

    monkeypatch.setattr(doctor, "celery_queues", lambda app=None, timeout=1.0: WorkerFacts({}))
    config_service.load_yaml("concurrency_ui:\n  max_queued_runs: 2\n", actor="test")
    for _ in range(2):
        assert post_json(operator, "/api/runs/", {"job": "quick"}).status_code == 201

    refusal = post_json(operator, "/api/runs/", {"job": "quick"})
    launch = operator.post(reverse("launchpad"), {"job": "quick", "run_config": ""})
    status, stderr = cli("submit", "quick")

    full = "the queue is full: 2 of 2 runs queued (concurrency_ui.max_queued_runs)"
    assert refusal.status_code == 409 and full in refusal.json()["detail"]
    assert launch.status_code == 409 and full in launch.content.decode()
    assert status == 1 and full in stderr
    assert Run.objects.count() == 2
    assert full in admin.get(reverse("overview")).content.decode()
    (finding,) = [f for f in doctor.diagnose() if f.check == "queue_cap"]
    assert finding.status == "problem"


# --- 7. one grammar per kind of input ---------------------------------------------------------


@pytest.mark.parametrize("number", ["1_0", "\u0663", "1.0"])
def test_a_number_the_api_refuses_is_refused_by_the_dashboard_too(admin, operator, number):
    Pool.objects.create(key="redshift", limit=3)
    run = runs.submit("quick", actor="test")
    check = snapshot()

    settings_form = admin.post(reverse("queue-settings"), {"max_concurrent_runs": number})
    pool_form = admin.post(reverse("pool-add"), {"pool-key": "api", "pool-limit": number})
    priority = operator.post(
        reverse("run-priority", args=[run.run_id]), {"priority": number, "confirmed": "1"}
    )
    tag = post_json(operator, "/api/runs/", {"job": "quick", "tags": {"dagster/priority": number}})
    status, _ = cli("pools", "set", "api", number)

    assert (
        settings_form.status_code == 400
        and "is not a whole number" in settings_form.content.decode()
    )
    assert pool_form.status_code == 400 and "is not a whole number" in pool_form.content.decode()
    assert priority.status_code == 400 and "is not a whole number" in priority.content.decode()
    assert "is not a whole number" in refused(tag)[0][1]
    assert status == 1
    check()


@pytest.mark.parametrize("key", [" padded", "padded ", "new\nline", "nul\x00", "tab\tkey"])
def test_a_bad_pool_or_tag_key_is_refused_the_same_way_everywhere(admin, operator, key):
    check = snapshot()

    api_pool = refused(post_json(admin, "/api/pools/", {"key": key, "limit": 1}))
    page_pool = admin.post(reverse("pool-add"), {"pool-key": key, "pool-limit": "1"})
    api_tag = refused(post_json(operator, "/api/runs/", {"job": "quick", "tags": {key: "x"}}))
    tag_limit = refused(
        post_json(
            admin,
            "/api/config/",
            {
                "yaml": yaml.safe_dump(
                    {"run_queue": {"tag_concurrency_limits": [{"key": key, "limit": 1}]}}
                )
            },
            "put",
        )
    )
    status, stderr = cli("pools", "set", key, "1")

    # NUL is refused by every reader before the key rule sees it (PostgreSQL cannot store it).
    rule = "NUL" if "\x00" in key else "a key is 1 to 200 characters"
    page = page_pool.content.decode().replace("Null characters are not allowed", "NUL")
    assert rule in api_pool[0][1] and rule in api_tag[0][1] and rule in tag_limit[0][1]
    assert page_pool.status_code == 400 and rule in page
    assert status == 1 and ("control character" if rule == "NUL" else rule) in stderr
    check()
    assert not Pool.objects.exists()


def test_freeing_a_step_that_does_not_exist_is_the_same_error_everywhere(admin):
    run = runs.submit("quick", actor="test")
    message = f"run {run.run_id} has no step 'nope'"

    api = refused(post_json(admin, f"/api/runs/{run.run_id}/free_slots/", {"step_key": "nope"}))
    page = admin.post(
        reverse("free-slots"),
        {"run_id": run.run_id, "step_key": "nope", "confirmed": "1"},
        follow=True,
    )
    status, stderr = cli("pools", "free", "--run", run.run_id, "--step", "nope")

    assert api == [("step_key", message)]
    assert f"step_key: {message}" in unescape(page.content.decode())
    assert "Freed" not in page.content.decode()
    assert status == 1 and stderr.strip() == f"step_key: {message}"


def test_every_page_sends_a_content_security_policy_without_inline_script(viewer):
    for url in ("/", reverse("runs"), reverse("configuration"), "/api/runs/"):
        policy = viewer.get(url)["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
