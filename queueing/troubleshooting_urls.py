"""Troubleshooting page and metrics, at the site root; their API routes live in queueing.api.urls."""

from django.urls import path

from .views import troubleshooting as views

urlpatterns = [
    path("troubleshooting/", views.troubleshooting, name="troubleshooting"),
    path(
        "troubleshooting/release/<str:run_id>/",
        views.release_slots,
        name="troubleshooting-release",
    ),
    path("metrics", views.metrics_view, name="metrics"),
]
