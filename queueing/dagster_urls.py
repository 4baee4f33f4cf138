"""The attached Dagster deployment's pages (README "For Dagster users")."""

from django.urls import path

from .views import dagster

urlpatterns = [
    path("dagster/", dagster.queue, name="dagster-queue"),
    path("dagster/runs/<str:run_id>/", dagster.run, name="dagster-run"),
    path("dagster/runs/<str:run_id>/terminate/", dagster.terminate, name="dagster-terminate"),
    path("dagster/runs/<str:run_id>/free-slots/", dagster.free_slots, name="dagster-free-slots"),
    path("dagster/pools/", dagster.pools, name="dagster-pools"),
    path("dagster/pools/set/", dagster.pool_set, name="dagster-pool-set"),
    path("dagster/pools/delete/", dagster.pool_delete, name="dagster-pool-delete"),
    path("dagster/doctor/", dagster.doctor, name="dagster-doctor"),
    path("dagster/what-if/", dagster.what_if, name="dagster-what-if"),
]
