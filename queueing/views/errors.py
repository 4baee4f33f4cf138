"""The product's own error pages: 404 and 500 (templates/404.html, 500.html; 403 is
templates/403.html). Django renders them when DEBUG is off; `NotFoundPage` renders the 404
page for a view's Http404 in development too, where Django would show its technical page
(with the URL patterns) instead."""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotFound
from django.template.loader import render_to_string


class NotFoundPage:
    """Middleware: a view's Http404 answers the product's 404 page, with its message."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, Http404) or request.path.startswith("/api/"):
            return None
        html = render_to_string(
            "404.html", {"exception": str(exception), "request_path": request.path}, request
        )
        return HttpResponseNotFound(html)
