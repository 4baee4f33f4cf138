"""The REST API's routes; the dashboard's are in `queueing/urls.py`."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import IsAuthenticated

from . import views

urlpatterns = [
    path("doctor/", views.DoctorView.as_view(), name="api-doctor"),
    path("simulate/", views.SimulateView.as_view(), name="api-simulate"),
    # Like every other endpoint, the schema is for logged-in users only.
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]),
        name="api-schema",
    ),
    path("runs/", views.RunList.as_view(), name="api-runs"),
    path("runs/<str:run_id>/", views.RunDetail.as_view(), name="api-run"),
    path("runs/<str:run_id>/terminate/", views.RunTerminate.as_view(), name="api-run-terminate"),
    path("runs/<str:run_id>/priority/", views.RunPriority.as_view(), name="api-run-priority"),
    path("runs/<str:run_id>/free_slots/", views.RunFreeSlots.as_view(), name="api-run-free-slots"),
    path("backfills/", views.BackfillList.as_view(), name="api-backfills"),
    path("backfills/<str:backfill_id>/", views.BackfillDetail.as_view(), name="api-backfill"),
    path(
        "backfills/<str:backfill_id>/cancel/",
        views.BackfillCancel.as_view(),
        name="api-backfill-cancel",
    ),
    path(
        "backfills/<str:backfill_id>/rerun_failed/",
        views.BackfillRerunFailed.as_view(),
        name="api-backfill-rerun-failed",
    ),
    *[
        route
        for kind in ("schedule", "sensor")
        for route in (
            path(f"{kind}s/", views.AutomationList.as_view(kind=kind), name=f"api-{kind}s"),
            path(
                f"{kind}s/<str:name>/",
                views.AutomationDetail.as_view(kind=kind),
                name=f"api-{kind}",
            ),
            path(
                f"{kind}s/<str:name>/start/",
                views.AutomationSwitch.as_view(kind=kind, running=True),
                name=f"api-{kind}-start",
            ),
            path(
                f"{kind}s/<str:name>/stop/",
                views.AutomationSwitch.as_view(kind=kind, running=False),
                name=f"api-{kind}-stop",
            ),
        )
    ],
    path("pools/", views.PoolList.as_view(), name="api-pools"),
    # `path:`: pool keys may contain "/" (e.g. "warehouse/load") and must stay addressable.
    path("pools/<path:key>/", views.PoolDetail.as_view(), name="api-pool"),
    path("config/", views.ConfigView.as_view(), name="api-config"),
    path("daemons/", views.DaemonList.as_view(), name="api-daemons"),
    path("daemons/processes/", views.DaemonProcesses.as_view(), name="api-daemon-processes"),
    path("jobs/", views.JobList.as_view(), name="api-jobs"),
    path("audit/", views.AuditList.as_view(), name="api-audit"),
    path("token/", views.TokenView.as_view(), name="api-token"),
]
