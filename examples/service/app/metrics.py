"""Prometheus metrics as pure ASGI middleware.

Labels use the route *template* (`/items/{item_id}`), never the raw path, so the
label set stays bounded no matter what clients request.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The *_created series only add noise to every scrape.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Module level: the default registry is process-global, and registering twice
# (e.g. building two apps in one test process) would raise.
REQUESTS = Counter(
    "http_requests_total", "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
)
DURATION = Histogram(
    "http_request_duration_seconds", "HTTP request duration by method and route template.",
    ["method", "route"],
    # 5 ms .. 10 s; 1.5 s sits at the edge of the `slow` fault so a p95 gate can tell.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0),
)

# Set by every /health/ready call: 1 if that check of the dependency passed, 0 if it failed; absent until the first
# call. The database alert of monitoring/alerts.yml reads it (a 503 alone does not say which dependency failed).
DEPENDENCY_UP = Gauge(
    "app_dependency_up", "Whether the last readiness check of the dependency passed (1) or failed (0).",
    ["dependency"],
)

# /metrics is not counted: scrapes would otherwise dominate request counts and
# dilute the 5xx ratio / latency quantiles that the deploy gates read.
EXCLUDED_ROUTES = frozenset({"/metrics"})


def route_template(routes: list[BaseRoute], scope: Scope) -> str:
    """Same matching rule as Starlette's router: first full match wins, else the
    first partial one (wrong method → 405), else `unmatched`."""
    partial: str | None = None
    for route in routes:
        match, _ = route.matches(scope)
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        if match is Match.FULL:
            return path
        if match is Match.PARTIAL and partial is None:
            partial = path
    return partial or "unmatched"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_template(self.routes, scope)
        if route in EXCLUDED_ROUTES:
            await self.app(scope, receive, send)
            return

        method = scope["method"]
        status = 500  # if the app raises before starting a response, it becomes a 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            DURATION.labels(method, route).observe(time.perf_counter() - start)
            REQUESTS.labels(method, route, str(status)).inc()
