"""What every dashboard view shares: fragment-or-page rendering, role checks, action replies.

The pattern: a page template `{% include %}`s the fragment an htmx request gets back, so the
page works without JavaScript and htmx only swaps parts of it. Write views check a role,
call one service function, then either answer htmx (fragment + flash + an event other parts
of the page listen to) or redirect (post/redirect/get) with a message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseStopPolling, trigger_client_event
from django_htmx.middleware import HtmxDetails

from ..engine.grammar import parse_integer
from ..engine.types import ConfigError
from ..errors import InvalidInput
from ..services.audit import actor_name

View = Callable[..., HttpResponse]


class HtmxHttpRequest(HttpRequest):
    """A request as django-htmx's middleware leaves it: `request.htmx` says whether htmx
    sent it, and for which target."""

    htmx: HtmxDetails


def whole_number(text: str) -> int | None:
    """A number from a query string or a hidden field by the one grammar, or None."""
    try:
        return parse_integer(text)
    except ValueError:
        return None


def is_partial(request: HtmxHttpRequest) -> bool:
    """htmx wants a fragment; a history restore (back button after `hx-push-url`) does not."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def page_or_fragment(
    request: HtmxHttpRequest,
    page: str,
    fragment: str,
    context: Mapping[str, Any],
    status: int = 200,
    stop_polling: bool = False,
) -> HttpResponse:
    """The whole page, or for htmx only the fragment the page includes; `stop_polling`
    answers the fragment so that htmx stops polling for it (the data no longer changes)."""
    if is_partial(request) and stop_polling:
        html = render_to_string(fragment, dict(context), request)
        response: HttpResponse = HttpResponseStopPolling(html)
    else:
        template = fragment if is_partial(request) else page
        response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


def requires(check: Callable[[Any], bool], role: str) -> Callable[[View], View]:
    """Refuse (403) a user for whom `check(user)` is false; `role` names who may."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not check(request.user):
                raise PermissionDenied(f"this needs the {role} role")
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def actor(request: HtmxHttpRequest) -> str:
    return actor_name(request.user)


def safe_next(request: HtmxHttpRequest, fallback: str) -> str:
    """The `next` the form carried if it points back into this site, else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


Events = str | Sequence[str] | None


def htmx_reply(
    request: HtmxHttpRequest,
    template: str | None = None,
    context: Mapping[str, Any] | None = None,
    event: Events = None,
) -> HttpResponse:
    """An htmx answer to an action: the swapped fragment, the flash messages out of band,
    and `event` (one name or several) triggered on the client, so the parts of the page
    showing the changed data reload.

    The flash comes wrapped in a <template>, so it survives next to a table-row fragment.
    """
    html = render_to_string(template, dict(context or {}), request) if template else ""
    html += render_to_string("queueing/_flash.html", {"oob": True}, request)
    response = HttpResponse(html)
    for name in [event] if isinstance(event, str) else event or ():
        trigger_client_event(response, name)
    return response


def done(request: HtmxHttpRequest, fallback: str, event: Events = None) -> HttpResponse:
    """After an action whose outcome is told by flash messages only."""
    if request.htmx:
        return htmx_reply(request, event=event)
    return HttpResponseRedirect(safe_next(request, fallback))


def confirmed(request: HtmxHttpRequest) -> bool:
    """htmx asked with `hx-confirm` already; a plain form shows a confirmation page first."""
    return bool(request.htmx) or request.POST.get("confirmed") == "1"


def confirm_page(
    request: HtmxHttpRequest,
    *,
    title: str,
    message: str,
    fields: Iterable[tuple[str, Any]],
    button: str,
    cancel: str,
) -> HttpResponse:
    """The no-JavaScript twin of `hx-confirm`: the same POST again, with `confirmed=1`."""
    context = {
        "title": title,
        "message": message,
        "action": request.path,
        "fields": [(k, v) for k, v in fields if k not in ("confirmed", "csrfmiddlewaretoken")],
        "button": button,
        "cancel": safe_next(request, cancel),
    }
    return render(request, "queueing/confirm.html", context)


def error_text(error: ConfigError) -> str:
    return f"{error.path}: {error.message}"


def add_service_errors(
    form: forms.Form, exc: InvalidInput, field_of: Callable[[str], str | None] | None = None
) -> None:
    """Put each problem of `exc` next to the form field its path names (else on the form).

    By default a path names a field when the field's name is the path,
    its last dotted segment (`monitoring.poll_interval_seconds`, `tag_limits[2].limit`) or
    its first one.
    """
    for error in exc.errors:
        name = field_of(error.path) if field_of else default_field(form, error.path)
        if name is not None and name in form.fields:
            form.add_error(name, error.message)
        else:
            form.add_error(None, error_text(error))


def default_field(form: forms.Form, path: str) -> str | None:
    plain = re.sub(r"\[\d+\]", "", path)
    for candidate in (path, plain.rsplit(".", 1)[-1], plain.split(".")[0]):
        if candidate in form.fields:
            return candidate
    return None


def flash_errors(request: HtmxHttpRequest, exc: InvalidInput) -> None:
    for error in exc.errors:
        messages.error(request, error_text(error))
