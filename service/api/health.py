"""Operations endpoints: liveness, readiness, Prometheus metrics (no API key needed)."""

from __future__ import annotations

import logging
import os
import time

import marshmallow as ma
from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.api import Blueprint
from service.api.errors import ApiError
from service.db import db

log = logging.getLogger(__name__)

blp = Blueprint("health", __name__, description="Liveness, readiness and metrics")

# Seconds; most answers take well under a millisecond to a few milliseconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class StatusSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})


class ReadinessSchema(StatusSchema):
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


@blp.route("/healthz")
@blp.response(200, StatusSchema)
def healthz() -> dict[str, str]:
    """Tell that the process is alive."""
    return {"status": "ok"}


@blp.route("/readyz")
@blp.response(200, ReadinessSchema)
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def readyz() -> dict[str, object]:
    """Tell whether the database answers and the policy is loaded."""
    checks = {"database": "ok", "policy": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        # The exception text may hold the URL; log its type only.
        log.warning("Readiness: database check failed (%s)", type(exc).__name__)
        db.session.rollback()
        checks["database"] = "unreachable"
    if current_app.extensions.get("authz") is None:
        checks["policy"] = "not_loaded"
    if any(value != "ok" for value in checks.values()):
        raise ApiError(
            503, "not_ready", "The service is not ready: see details.", {"checks": checks}
        )
    return {"status": "ready", "checks": checks}


@blp.route("/metrics")
@blp.doc(
    responses={
        "200": {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    }
)
def metrics() -> Response:
    """Expose request counts and latencies in the Prometheus text format."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several gunicorn workers: sum what every worker wrote to the shared folder.
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = current_app.extensions["metrics"].registry
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class Metrics:
    """The HTTP metrics of one app (one registry per app, so tests can build several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["method", "endpoint", "status"]
        self.requests = Counter(
            "yuki_authz_http_requests",
            "HTTP requests answered, by route template and status.",
            labels,
            registry=self.registry,
        )
        self.decision_cache = Counter(
            "yuki_authz_decision_cache_checks",
            "Checks answered from the decision cache (hit), computed (miss), or computed because "
            "the revision board file was replaced (detached).",
            ["result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "yuki_authz_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and status.",
            labels,
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )


def init_metrics(app: Flask) -> None:
    """Time every request and count it under its route template (never the raw path)."""
    collector = app.extensions["metrics"] = Metrics()
    authz = app.extensions.get("authz")
    if authz is not None and authz.cache is not None:
        hit = collector.decision_cache.labels("hit")
        miss = collector.decision_cache.labels("miss")
        detached = collector.decision_cache.labels("detached")

        def count(hits: int, misses: int, detached_checks: int) -> None:
            if hits:
                hit.inc(hits)
            if misses:
                miss.inc(misses)
            if detached_checks:
                detached.inc(detached_checks)

        authz.cache.on_count = count

    @app.before_request
    def _start_timer() -> None:
        g.metrics_start = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        start = g.get("metrics_start")
        if start is not None:
            rule = request.url_rule
            labels = (
                request.method,
                rule.rule if rule else "<unmatched>",
                str(response.status_code),
            )
            collector: Metrics = app.extensions["metrics"]
            collector.requests.labels(*labels).inc()
            collector.latency.labels(*labels).observe(time.perf_counter() - start)
        return response
