"""Run ids named inside doctor evidence and Dagster quirk notes are links (issue 14: every
run id shown is a link), through the `run_links` filter `_finding.html` and the Dagster
notes use."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse

from queueing.templatetags.dashboard import run_links


def _link(url_name: str, short: str) -> str:
    return f'<a href="{reverse(url_name, args=[short])}"><code>{short}</code></a>'


def test_it_links_a_run_named_in_an_evidence_line():
    html = run_links("run b3d7b50e is CANCELED, ended 35 min ago but holds 1 slot(s)")
    assert _link("run-detail", "b3d7b50e") in html
    assert html.endswith("is CANCELED, ended 35 min ago but holds 1 slot(s)")


def test_it_links_every_run_of_a_list_and_the_dagster_pages_link_to_their_run_page():
    html = run_links(
        "the next tick would launch 3 run(s): adcc55a6, e846b466, d60253d4", "dagster-run"
    )
    for short in ("adcc55a6", "e846b466", "d60253d4"):
        assert _link("dagster-run", short) in html


def test_it_leaves_whole_ids_other_hex_words_and_markup_alone():
    whole = "run 7d12fa3a-07d7-4e6b-827b-0305c801825f started"
    assert run_links(whole) == whole
    assert run_links("fingerprint deadbeef changed") == "fingerprint deadbeef changed"
    assert "&lt;script&gt;" in run_links("run <script>alert(1)</script>")


def test_doctor_findings_and_quirk_notes_render_the_links():
    finding = {
        "status": "problem",
        "title": "1 finished run(s) still hold pool slots",
        "check": "slot_leaks",
        "evidence": ["run b3d7b50e is CANCELED but holds 1 slot(s): `warehouse`"],
        "fix": "",
    }
    dashboard = render_to_string("queueing/_finding.html", {"f": finding})
    assert _link("run-detail", "b3d7b50e") in dashboard
    assert "<code>warehouse</code>" in dashboard
    dagster = render_to_string("queueing/_finding.html", {"f": finding, "run_url": "dagster-run"})
    assert _link("dagster-run", "b3d7b50e") in dagster
    notes = render_to_string(
        "queueing/dagster/_notes.html",
        {"notes": ["Dagster's daemon counts pool-blocked run(s) 4f10657b against tag team"]},
    )
    assert _link("dagster-run", "4f10657b") in notes
