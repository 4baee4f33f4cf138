"""The Troubleshooting page: problems first, then warnings, the passing checks folded
away; fix texts show commands and settings as code."""

from __future__ import annotations

from queueing.models import Pool

from .conftest import html


def test_problems_come_first_and_passing_checks_are_folded(as_admin, submit):
    Pool.objects.create(key="redshift", limit=0)
    submit("redshift_etl")

    page = html(as_admin.get("/troubleshooting/"))

    problem = page.index('class="finding finding-problem"')
    folded = page.index('<details class="ok-findings">')
    first_ok = page.index('class="finding finding-ok"')
    assert problem < folded < first_ok
    assert 'id="check-pools" class="finding finding-problem"' in page
    # The fix's backticked command is code, not raw backticks.
    assert "<code>manage.py pools set KEY N</code>" in page
    assert "`manage.py" not in page
