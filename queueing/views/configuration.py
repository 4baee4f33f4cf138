"""Configuration: the effective `dagster.yaml`, where each value comes from, import, export."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from ..engine.config.export import setting_paths, to_instance_yaml
from ..engine.config.flat import config_to_flat
from ..errors import InvalidInput
from ..forms import ConfigImportForm
from ..roles import can_change_limits, can_see_secrets
from ..services import config as config_service
from ._common import HtmxHttpRequest, actor, page_or_fragment, requires


def _context(request: HtmxHttpRequest, **overrides: Any) -> dict[str, Any]:
    current = config_service.current_config()
    text = to_instance_yaml(current)
    sources = config_service.sources()
    labels = config_service.source_labels()
    paths = setting_paths(current)
    context = {
        # Secret-looking values of kept-verbatim sections are masked below admin.
        "yaml": to_instance_yaml(current, hide_secrets=not can_see_secrets(request.user)),
        # (YAML path under the block the deployment uses, value, source kind, in words)
        "settings": [
            (paths.get(name, name), value, sources.get(name, "default"), labels.get(name, ""))
            for name, value in config_to_flat(current).items()
        ],
        "warnings": config_service.check_yaml(text).warnings,
        "form": ConfigImportForm(),
        "problems": [],
        "preview": None,
        "can_edit": can_change_limits(request.user),
    }
    return {**context, **overrides}


def _page(request: HtmxHttpRequest, status: int = 200, **overrides: Any) -> HttpResponse:
    context = _context(request, **overrides)
    return page_or_fragment(
        request,
        "queueing/configuration.html",
        "queueing/_config_import.html",
        context,
        status=200 if request.htmx else status,
    )


@require_GET
@login_required
def configuration(request: HtmxHttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@login_required
@requires(can_change_limits, "admin")
def configuration_import(request: HtmxHttpRequest) -> HttpResponse:
    """Step 1 shows the file's errors or the changes it makes; step 2 (`apply=1`) saves it."""
    form = ConfigImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, 400, form=form)
    text, apply = form.cleaned_data["text"], request.POST.get("apply") == "1"
    try:
        result, diff = config_service.load_yaml(text, actor(request), dry_run=not apply)
    except InvalidInput as exc:
        return _page(request, 400, form=form, problems=exc.errors)
    if not apply:
        preview = {
            "text": text,
            "diff": diff,
            "warnings": result.warnings,
            "ignored": result.ignored_sections,
        }
        return _page(request, form=form, preview=preview)
    messages.success(request, f"Configuration imported: {len(diff)} setting(s) changed.")
    if request.htmx:  # the YAML and the table above the form changed too
        return HttpResponseClientRedirect(reverse("configuration"))
    return redirect("configuration")


@require_GET
@login_required
def configuration_export(request: HtmxHttpRequest) -> HttpResponse:
    """The whole file for admins; for anyone else with secret-looking values masked."""
    hide = not can_see_secrets(request.user)
    response = HttpResponse(
        to_instance_yaml(config_service.current_config(), hide_secrets=hide),
        content_type="application/yaml; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="dagster.yaml"'
    return response
