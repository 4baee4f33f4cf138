"""Contract of /api/runs/: submit, list, detail, terminate, priority, free slots."""

from __future__ import annotations

import pytest

from queueing.engine.types import RunStatus
from queueing.models import AuditEntry, Pool, PoolClaim, Run
from queueing.services import config as config_service
from queueing.services import run_queue, runs

from .conftest import errors_of, snapshot


def submit(client, job="quick", **body):
    response = client.post("/api/runs/", {"job": job, **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def load_config(text: str) -> None:
    config_service.load_yaml(text, actor="test")


# --- submit ----------------------------------------------------------------------------


def test_submit_queues_a_run_with_job_and_user_tags(operator_client):
    body = submit(operator_client, "redshift_etl", tags={"team": "data"})

    run = Run.objects.get(run_id=body["run_id"])
    assert run.status == RunStatus.QUEUED
    assert run.job_name == "redshift_etl"
    # Job tags and launch tags are merged; the answer shows what was stored.
    assert (
        run.tags
        == {
            "database": "redshift",
            "team": "data",
            "dagster/code_location": "queueing.demo.definitions",
        }
        == body["tags"]
    )
    assert body["status"] == "QUEUED"
    assert list(run.steps.values_list("step_key", flat=True)) == [
        "extract_orders",
        "transform_orders",
        "load_orders",
    ]


def test_submit_takes_the_priority_from_the_priority_tag(operator_client):
    body = submit(operator_client, tags={"dagster/priority": "-7"})

    assert body["priority"] == -7
    assert Run.objects.get(run_id=body["run_id"]).priority == -7


def test_submit_merges_run_config_over_the_job_default(operator_client):
    body = submit(
        operator_client,
        "redshift_etl",
        run_config={"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}},
    )

    stored = Run.objects.get(run_id=body["run_id"]).run_config
    assert stored["execution"] == {"config": {"multiprocess": {"max_concurrent": 2}}}
    assert stored["ops"] == {"load_orders": {"config": {"table": "analytics.orders"}}}


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        ({"job": "no_such_job"}, "job", "unknown job 'no_such_job'"),
        ({}, "job", "required"),
        ({"job": 5}, "job", "required"),
        ({"job": "quick", "tags": {"team": 1}}, "tags.team", "expected a string value"),
        ({"job": "quick", "tags": {"team": None}}, "tags.team", "expected a string value"),
        ({"job": "quick", "tags": {"": "x"}}, "tags", "the key is empty"),
        ({"job": "quick", "tags": {"a\nb": "x"}}, "tags", "contains a control character"),
        ({"job": "quick", "tags": {"a": "x\u0000"}}, "tags.a", "NUL character"),
        ({"job": "quick", "tags": ["a=b"]}, "tags", "expected a mapping"),
        ({"job": "quick", "tags": {f"k{i}": "v" for i in range(10_000)}}, "tags", "at most 200"),
        (
            {"job": "quick", "tags": {"dagster/priority": "high"}},
            "tags.dagster/priority",
            "is not a whole number",
        ),
        (
            {"job": "quick", "tags": {"dagster/priority": "2147483648"}},
            "tags.dagster/priority",
            "out of range",
        ),
        (
            {"job": "quick", "tags": {"dagster/priority": "1.5"}},
            "tags.dagster/priority",
            "is not a whole number",
        ),
        (
            {
                "job": "quick",
                "run_config": {"execution": {"config": {"multiprocess": {"max_concurrent": -1}}}},
            },
            "run_config.execution.config.multiprocess.max_concurrent",
            "-1 is invalid",
        ),
        ({"job": "quick", "run_config": {"bogus": 1}}, "run_config.bogus", "unknown key"),
        ({"job": "quick", "run_config": {"ops": {"nope": {}}}}, "run_config.ops.nope", "no step"),
        ({"job": "quick", "run_config": [1, 2]}, "run_config", "expected a mapping"),
        ({"job": "quick", "colour": "red"}, "colour", "unknown field"),
    ],
)
def test_submit_refuses_bad_input_naming_the_field(operator_client, unchanged, body, path, words):
    errors = errors_of(operator_client.post("/api/runs/", body, format="json"))

    assert any(p == path and words in m for p, m in errors), errors
    unchanged()


def test_submit_reports_every_problem_at_once(operator_client, unchanged):
    body = {
        "job": "quick",
        "tags": {"a": 1, "dagster/priority": "x"},
        "run_config": {"execution": {"config": {"multiprocess": {"max_concurrent": -1}}}},
    }
    paths = [p for p, _ in errors_of(operator_client.post("/api/runs/", body, format="json"))]

    assert paths == [
        "tags.a",
        "tags.dagster/priority",
        "run_config.execution.config.multiprocess.max_concurrent",
    ]
    unchanged()


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ('["quick"]', "expected a JSON object"),
        ('"quick"', "expected a JSON object"),
        ("null", "expected a JSON object"),
        ("{not json", "invalid JSON at line 1, column 2"),
        ('{"job": "quick", "tags": {"a": "\\ud800"}}', "lone surrogate"),
    ],
)
def test_submit_refuses_a_body_that_is_not_a_json_object(
    operator_client, unchanged, payload, words
):
    response = operator_client.post("/api/runs/", payload, content_type="application/json")

    [(path, message)] = errors_of(response)
    assert path == ("tags.a" if "surrogate" in words else "body")
    assert words in message
    unchanged()


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/runs/{run}/terminate/", {"forse": True}),
        ("/api/runs/{run}/priority/", {"priority": 1, "prio": 2}),
        ("/api/runs/{run}/free_slots/", {"step": "fetch_customers"}),
    ],
)
def test_run_actions_refuse_unknown_fields_instead_of_ignoring_them(
    operator_client, admin_client, url, body
):
    run_id = submit(operator_client, "api_ingest")["run_id"]
    check = snapshot()

    errors = errors_of(admin_client.post(url.format(run=run_id), body, format="json"))

    assert all("unknown field" in message for _, message in errors)
    assert {path for path, _ in errors} <= set(body)
    check()


def test_submit_refuses_form_encoded_bodies(operator_client, unchanged):
    response = operator_client.post("/api/runs/", {"job": "quick"})  # multipart

    assert response.status_code == 415
    unchanged()


def test_an_oversized_body_gets_a_json_error(operator_client, unchanged):
    body = {"job": "quick", "tags": {"big": "x" * (11 * 1024 * 1024)}}

    errors = errors_of(operator_client.post("/api/runs/", body, format="json"))

    assert errors[0][0] == "body"
    assert "larger than" in errors[0][1]
    unchanged()


# --- list ------------------------------------------------------------------------------


def test_list_filters_by_status_tag_and_job(viewer_client, operator_client):
    etl = submit(operator_client, "redshift_etl", tags={"team": "data"})
    quick = submit(operator_client, tags={"team": "web"})
    done = submit(operator_client, tags={"team": "data"})
    runs.terminate(done["run_id"], actor="test")

    def ids(query):
        response = viewer_client.get(f"/api/runs/{query}")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["count"] == len(body["results"])
        return [r["run_id"] for r in body["results"]]

    assert ids("") == [done["run_id"], quick["run_id"], etl["run_id"]]
    assert ids("?status=CANCELED") == [done["run_id"]]
    assert ids("?status=QUEUED&status=CANCELED") == [done["run_id"], quick["run_id"], etl["run_id"]]
    assert ids("?tag=team=data") == [done["run_id"], etl["run_id"]]
    assert ids("?tag=team=data&tag=database=redshift") == [etl["run_id"]]
    assert ids("?tag=team=data&status=QUEUED") == [etl["run_id"]]
    assert ids("?job=quick") == [done["run_id"], quick["run_id"]]


@pytest.mark.parametrize("key", ["contains", "a__b", "has.dot", "dagster/priority"])
def test_tag_filters_take_any_key_literally(viewer_client, operator_client, key):
    wanted = submit(operator_client, tags={key: "1"})
    submit(operator_client, tags={"other": "1"})

    response = viewer_client.get("/api/runs/", {"tag": f"{key}=1"})

    assert response.status_code == 200, response.content
    assert [r["run_id"] for r in response.json()["results"]] == [wanted["run_id"]]


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("?status=RUNNING", "status"),
        ("?status=queued", "status"),
        ("?tag=novalue", "tag"),
        ("?tag==x", "tag"),
        ("?limit=abc", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=100000", "limit"),
        ("?offset=x", "offset"),
    ],
)
def test_list_refuses_bad_filters_naming_the_parameter(viewer_client, query, path):
    errors = errors_of(viewer_client.get(f"/api/runs/{query}"))

    assert errors[0][0] == path


def test_queued_runs_are_listed_in_the_order_the_next_tick_considers_them(
    viewer_client, operator_client
):
    low = submit(operator_client, tags={"dagster/priority": "-1"})
    first = submit(operator_client)
    high = submit(operator_client, tags={"dagster/priority": "10"})
    second = submit(operator_client)

    body = viewer_client.get("/api/runs/?status=QUEUED").json()

    assert [r["run_id"] for r in body["results"]] == [
        high["run_id"],
        first["run_id"],
        second["run_id"],
        low["run_id"],
    ]
    assert [r["queue"]["position"] for r in body["results"]] == [1, 2, 3, 4]


def test_queued_runs_carry_the_reason_they_wait_after_a_tick(viewer_client, operator_client):
    load_config("run_queue:\n  max_concurrent_runs: 1\n")
    ids = [submit(operator_client)["run_id"] for _ in range(3)]

    result = run_queue.tick()

    assert result.launched == (ids[0],)
    body = viewer_client.get("/api/runs/?status=QUEUED").json()
    assert [r["run_id"] for r in body["results"]] == ids[1:]
    for item in body["results"]:
        assert item["wait_reason"] == "max_concurrent_runs: 1 of 1 runs in progress"
        assert item["queue"]["launches_next_tick"] is False
        assert item["queue"]["blocking"]["rule"] == "max_concurrent_runs"
        assert (item["queue"]["blocking"]["count"], item["queue"]["blocking"]["limit"]) == (1, 1)
    # The tick stored the same sentence, for the wait history.
    assert set(Run.objects.filter(run_id__in=ids[1:]).values_list("wait_reason", flat=True)) == {
        "max_concurrent_runs: 1 of 1 runs in progress"
    }


def test_list_pages_with_limit_and_offset(viewer_client, operator_client):
    ids = [submit(operator_client)["run_id"] for _ in range(5)]

    body = viewer_client.get("/api/runs/?limit=2&offset=1").json()

    assert body["count"] == 5
    assert [r["run_id"] for r in body["results"]] == [ids[3], ids[2]]


# --- detail ----------------------------------------------------------------------------


def test_detail_shows_steps_and_every_gate_of_a_queued_run(viewer_client, operator_client):
    load_config(
        "run_queue:\n  max_concurrent_runs: 1\n"
        "  tag_concurrency_limits:\n    - key: database\n      limit: 1\n"
    )
    Pool.objects.create(key="redshift", limit=1)
    first = submit(operator_client, "redshift_etl")
    waiting = submit(operator_client, "redshift_etl")
    run_queue.tick()

    body = viewer_client.get(f"/api/runs/{waiting['run_id']}/").json()

    assert [s["step_key"] for s in body["steps"]] == [
        "extract_orders",
        "transform_orders",
        "load_orders",
    ]
    assert body["steps"][0]["pool"] == "redshift"
    assert body["steps"][1]["pool"] is None
    gates = {g["rule"]: g for g in body["queue"]["gates"]}
    assert set(gates) == {"max_concurrent_runs", "tag", "pool"}
    assert (gates["tag"]["subject"], gates["tag"]["count"], gates["tag"]["limit"]) == (
        "database",
        1,
        1,
    )
    assert gates["tag"]["holders"] == [first["run_id"]]
    assert (gates["pool"]["subject"], gates["pool"]["count"], gates["pool"]["limit"]) == (
        "redshift",
        1,
        1,
    )
    assert not any(g["passed"] for g in gates.values())
    assert body["wait_reason"] == "max_concurrent_runs: 1 of 1 runs in progress"
    assert body["wait_history"][0]["message"] == body["wait_reason"]
    assert body["wait_history"][0]["to"] is None


def test_detail_of_an_unknown_run_is_404(viewer_client):
    response = viewer_client.get("/api/runs/nope/")

    assert response.status_code == 404
    assert "does not exist" in response.json()["detail"]


# --- terminate -------------------------------------------------------------------------


def test_terminate_cancels_a_queued_run_at_once(operator_client):
    run_id = submit(operator_client)["run_id"]

    response = operator_client.post(f"/api/runs/{run_id}/terminate/", {}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "CANCELED"
    assert Run.objects.get(run_id=run_id).status == RunStatus.CANCELED


def test_terminate_asks_a_launched_run_to_stop_and_force_cancels_it(operator_client):
    run_id = submit(operator_client)["run_id"]
    run_queue.tick()

    first = operator_client.post(f"/api/runs/{run_id}/terminate/", {}, format="json")
    again = operator_client.post(f"/api/runs/{run_id}/terminate/", {}, format="json")
    forced = operator_client.post(f"/api/runs/{run_id}/terminate/", {"force": True}, format="json")

    assert first.json()["status"] == "CANCELING"
    assert again.status_code == 409
    assert "already being canceled" in again.json()["detail"]
    assert forced.json()["status"] == "CANCELED"


def test_terminating_a_finished_run_is_a_conflict(operator_client):
    run_id = submit(operator_client)["run_id"]
    runs.terminate(run_id, actor="test")
    check = snapshot()

    response = operator_client.post(f"/api/runs/{run_id}/terminate/", {}, format="json")

    assert response.status_code == 409
    assert "only queued or in-progress runs" in response.json()["detail"]
    check()


def test_terminate_refuses_a_force_that_is_not_a_boolean(operator_client):
    run_id = submit(operator_client)["run_id"]

    errors = errors_of(
        operator_client.post(f"/api/runs/{run_id}/terminate/", {"force": "yes"}, format="json")
    )

    assert errors == [("force", "expected true or false")]
    assert Run.objects.get(run_id=run_id).status == RunStatus.QUEUED


def test_terminate_an_unknown_run_is_404(operator_client):
    assert operator_client.post("/api/runs/nope/terminate/", {}, format="json").status_code == 404


# --- priority --------------------------------------------------------------------------


def test_priority_change_reorders_the_queue_and_is_audited(operator_client, viewer_client):
    first = submit(operator_client)["run_id"]
    second = submit(operator_client)["run_id"]

    response = operator_client.post(f"/api/runs/{second}/priority/", {"priority": 3}, format="json")

    assert response.status_code == 200
    assert response.json()["priority"] == 3
    run = Run.objects.get(run_id=second)
    assert (run.priority, run.tags["dagster/priority"]) == (3, "3")
    order = viewer_client.get("/api/runs/?status=QUEUED").json()["results"]
    assert [r["run_id"] for r in order] == [second, first]
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target, entry.old_value, entry.new_value) == (
        "operator-user",
        "run.set_priority",
        second,
        0,
        3,
    )


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("5", "expected an integer"),
        (1.5, "expected an integer"),
        (True, "expected an integer"),
        (None, "expected an integer"),
        ([1], "expected an integer"),
        ("abc", "expected an integer"),
        (2**31, "out of range"),
        (-(2**31) - 1, "out of range"),
        (10**40, "outside the 64-bit range"),
    ],
)
def test_priority_refuses_anything_but_a_32_bit_integer(operator_client, value, words):
    run_id = submit(operator_client)["run_id"]
    check = snapshot()

    errors = errors_of(
        operator_client.post(f"/api/runs/{run_id}/priority/", {"priority": value}, format="json")
    )

    assert len(errors) == 1
    assert errors[0][0] == "priority"
    assert words in errors[0][1]
    check()


def test_priority_without_a_value_is_refused(operator_client):
    run_id = submit(operator_client)["run_id"]

    errors = errors_of(operator_client.post(f"/api/runs/{run_id}/priority/", {}, format="json"))

    assert errors[0][0] == "priority"


def test_priority_of_a_run_that_is_not_queued_is_a_conflict(operator_client):
    run_id = submit(operator_client)["run_id"]
    runs.terminate(run_id, actor="test")

    response = operator_client.post(f"/api/runs/{run_id}/priority/", {"priority": 1}, format="json")

    assert response.status_code == 409
    assert not AuditEntry.objects.exists()


# --- free slots ------------------------------------------------------------------------


def claim(run: Run, step_key: str, pool_key: str, claimed: bool = True) -> None:
    from django.utils import timezone

    PoolClaim.objects.create(
        pool_key=pool_key,
        run=run,
        step_key=step_key,
        enqueued_at=timezone.now(),
        claimed_at=timezone.now() if claimed else None,
    )


def test_free_slots_releases_a_runs_claims_and_is_audited(admin_client, operator_client):
    run = Run.objects.get(run_id=submit(operator_client, "api_ingest")["run_id"])
    claim(run, "fetch_customers", "api")
    claim(run, "fetch_invoices", "api", claimed=False)

    response = admin_client.post(f"/api/runs/{run.run_id}/free_slots/", {}, format="json")

    assert response.status_code == 200
    assert response.json() == {"freed": 2}
    assert not PoolClaim.objects.exists()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target, entry.actor) == (
        "pool.free_slots",
        run.run_id,
        "admin-user",
    )
    assert sorted(entry.old_value) == ["api:fetch_customers", "api:fetch_invoices"]


def test_free_slots_of_one_step_leaves_the_others(admin_client, operator_client):
    run = Run.objects.get(run_id=submit(operator_client, "api_ingest")["run_id"])
    claim(run, "fetch_customers", "api")
    claim(run, "fetch_invoices", "api")

    response = admin_client.post(
        f"/api/runs/{run.run_id}/free_slots/", {"step_key": "fetch_invoices"}, format="json"
    )

    assert response.json() == {"freed": 1}
    assert list(PoolClaim.objects.values_list("step_key", flat=True)) == ["fetch_customers"]
    assert AuditEntry.objects.get().target == f"{run.run_id}:fetch_invoices"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"step_key": "no_such_step"}, "has no step 'no_such_step'"),
        ({"step_key": 3}, "expected a string"),
    ],
)
def test_free_slots_refuses_a_step_the_run_does_not_have(
    admin_client, operator_client, body, words
):
    run = Run.objects.get(run_id=submit(operator_client, "api_ingest")["run_id"])
    claim(run, "fetch_customers", "api")
    check = snapshot()

    errors = errors_of(
        admin_client.post(f"/api/runs/{run.run_id}/free_slots/", body, format="json")
    )

    assert errors[0][0] == "step_key"
    assert words in errors[0][1]
    check()


def test_free_slots_of_an_unknown_run_is_404(admin_client, unchanged):
    assert admin_client.post("/api/runs/nope/free_slots/", {}, format="json").status_code == 404
    unchanged()


def test_queued_runs_filtered_by_the_rule_that_holds_them(operator_client, viewer_client):
    load_config(
        "concurrency:\n  runs:\n    max_concurrent_runs: -1\n    tag_concurrency_limits:\n"
        "      - {key: dagster/backfill, value: {maxUniqueValues: 1}}\n"
    )
    submit(operator_client, tags={"dagster/backfill": "b1"})
    capped = submit(operator_client, tags={"dagster/backfill": "b2"})
    free = submit(operator_client)
    run_queue.tick()
    plain = submit(operator_client)

    def ids(hold):
        body = viewer_client.get(f"/api/runs/?status=QUEUED&held_by={hold}").json()
        return [r["run_id"] for r in body["results"]], body["count"]

    assert ids("distinct_values") == ([capped["run_id"]], 1)
    assert ids("launching") == ([plain["run_id"]], 1)
    assert ids("pool") == ([], 0)
    assert free["run_id"] not in ids("launching")[0]  # launched by the tick: no longer queued


def test_held_by_is_refused_for_an_unknown_rule_or_without_status_queued(viewer_client):
    unknown = viewer_client.get("/api/runs/?status=QUEUED&held_by=nonsense")
    assert unknown.status_code == 400
    assert errors_of(unknown)[0][0] == "held_by"
    assert "expected one of launching, max_concurrent_runs" in errors_of(unknown)[0][1]
    finished = viewer_client.get("/api/runs/?status=SUCCESS&held_by=pool")
    assert finished.status_code == 400
    assert errors_of(finished) == [
        ("held_by", "only queued runs are held back: ask for status=QUEUED alone")
    ]
