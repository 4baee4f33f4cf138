import time
from django.urls import reverse
from queueing.models import Run

def test_perf(as_viewer, django_assert_max_num_queries):
    Run.objects.bulk_create([Run(job_name="quick", location_name="demo", status="QUEUED", tags={"team": str(i % 7)}) for i in range(10_000)])
    for tab in ["queued", "in_progress", "finished"]:
        t = time.perf_counter()
        with django_assert_max_num_queries(20):
            r = as_viewer.get(reverse("runs"), {"tab": tab, "page": 3})
        print(tab, r.status_code, round(time.perf_counter() - t, 3))
    t = time.perf_counter()
    r = as_viewer.get(reverse("overview")); print("overview", r.status_code, round(time.perf_counter() - t, 3))
