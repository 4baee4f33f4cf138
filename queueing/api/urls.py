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
