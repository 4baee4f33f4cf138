"""The dashboard's routes (the API's are in `api/urls.py`), one block per page."""

from django.contrib.auth import views as auth_views
from django.urls import path

from .views import (
    concurrency,
    configuration,
    daemons,
    dagster,
    launchpad,
    overview,
    pools,
    run_detail,
    runs,
    troubleshooting,
)

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", overview.overview, name="overview"),
    # Runs
    path("runs/", runs.run_list, name="runs"),
    path("runs/terminate/", runs.terminate_selected, name="runs-terminate"),
    path("runs/<str:run_id>/", run_detail.run_detail, name="run-detail"),
    path("runs/<str:run_id>/terminate/", runs.terminate, name="run-terminate"),
    path("runs/<str:run_id>/priority/", runs.set_priority, name="run-priority"),
    # Launchpad
    path("launchpad/", launchpad.launchpad, name="launchpad"),
    path("launchpad/validate/", launchpad.validate, name="launchpad-validate"),
    # Pools: one page per pool (keys may contain "/", hence `path:`); the list is on Concurrency
    path("pools/", pools.pool_list, name="pools"),
    path("pools/<path:key>/", pools.pool, name="pool"),
    # Deployment: concurrency limits
    path("deployment/concurrency/", concurrency.concurrency, name="concurrency"),
    path("deployment/concurrency/settings/", concurrency.queue_settings, name="queue-settings"),
    path(
        "deployment/concurrency/monitoring/",
        concurrency.monitoring_settings,
        name="monitoring-settings",
    ),
    path("deployment/concurrency/tag-limits/", concurrency.tag_limit_add, name="tag-limit-add"),
    path(
        "deployment/concurrency/tag-limits/delete/",
        concurrency.tag_limit_delete,
        name="tag-limit-delete",
    ),
    path("deployment/concurrency/pools/", concurrency.pool_add, name="pool-add"),
    path("deployment/concurrency/pools/<int:pk>/", concurrency.pool_row, name="pool-row"),
    path("deployment/concurrency/pools/<int:pk>/edit/", concurrency.pool_edit, name="pool-edit"),
    path("deployment/concurrency/pools/<int:pk>/limit/", concurrency.pool_limit, name="pool-limit"),
    path(
        "deployment/concurrency/pools/<int:pk>/delete/", concurrency.pool_delete, name="pool-delete"
    ),
    path("deployment/concurrency/free/", concurrency.free_slots, name="free-slots"),
    # Deployment: configuration and daemons
    path("deployment/configuration/", configuration.configuration, name="configuration"),
    path(
        "deployment/configuration/import/",
        configuration.configuration_import,
        name="configuration-import",
    ),
    path(
        "deployment/configuration/export/",
        configuration.configuration_export,
        name="configuration-export",
    ),
    path("deployment/daemons/", daemons.daemons, name="daemons"),
    # Troubleshooting: the doctor, the what-if simulator, slot release; Prometheus metrics
    path("troubleshooting/", troubleshooting.troubleshooting, name="troubleshooting"),
    path(
        "troubleshooting/release/<str:run_id>/",
        troubleshooting.release_slots,
        name="troubleshooting-release",
    ),
    path("metrics", troubleshooting.metrics_view, name="metrics"),
    # The attached Dagster deployment (README "For Dagster users")
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
