"""The database paths of the claim (the Python path on SQLite, `cui_claim_slots` on
PostgreSQL) against the model of the claim rule, on random mixes of weights, pools,
priorities, arrivals, finish and retry orders (tests/support/claim_model.py): every
`try_claim` answers what the model predicts, no pool goes over its limit, nothing is left
waiting that could run."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queueing.models import Pool, PoolClaim, Run
from queueing.services import pools, runs
from tests.support.claim_model import Demand, Scenario, drive, scenarios

pytestmark = [pytest.mark.django_db(transaction=True)]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios(max_steps=8), data=st.data())
def test_claims_in_the_database_follow_the_model(scenario: Scenario, data: st.DataObject) -> None:
    PoolClaim.objects.all().delete()
    Pool.objects.all().delete()
    # Runs in creation order: their database ids order them as the model's run numbers.
    while Run.objects.count() < 4:
        runs.submit("quick", actor="test")
    by_number = list(Run.objects.order_by("pk"))[:4]
    for key, limit in scenario.limits.items():
        pools.set_limit(key, limit, actor="test")

    def attempt(step: Demand, at: float) -> bool:
        result = pools.try_claim(
            by_number[step.run], step.step_key, step.pools, step.priority, None
        )
        held = {
            key: sum(
                PoolClaim.objects.filter(pool_key=key, claimed_at__isnull=False).values_list(
                    "slots", flat=True
                )
            )
            for key in scenario.limits
        }
        assert all(held[key] <= limit for key, limit in scenario.limits.items()), held
        return result.claimed

    def free(step: Demand) -> None:
        pools.free_step(by_number[step.run], step.step_key)

    drive(scenario, data, attempt, free)
