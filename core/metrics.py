"""Prometheus metrics at /metrics (prometheus-client), for a scraper with a token.

- `http_requests_total` and `http_request_duration_seconds`, by route template
  and status (recorded by core/request_log.py);
- `db_pool_connections` (size, idle, waiting requests) of this process's pool;
- `utility_calls_total` by utility and outcome (utilities/runners.py);
- `db_connections_lost_total`: connections found closed by the server;
- `cache_outages_total` and `cache_fallback_calls_total`: Redis outages, and
  the cache calls this process's counters served meanwhile (core/cache.py);
- `jobs` by status, counted in the database when scraped (utilities/metrics.py,
  registered by the utilities app).

/metrics answers 404 unless API_METRICS_TOKEN is set, and then only to
`Authorization: Bearer <that token>`. Each server process has its own
counters; set PROMETHEUS_MULTIPROC_DIR (an empty directory, shared by the
processes, emptied at each start) to have /metrics add up every process.
"""

import hmac
import os
from collections.abc import Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

requests_total = Counter(
    "http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
request_duration = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
utility_calls = Counter(
    "utility_calls_total", "Utility calls, by outcome.", ["utility", "outcome"]
)
db_connections_lost = Counter(
    "db_connections_lost_total",
    "Times a database connection was found closed by the server (core/db/calls.py).",
)
cache_outages = Counter(
    "cache_outages_total",
    "Times the shared cache (Redis) became unreachable and the rate limits "
    "fell back to this process's counters (core/cache.py).",
)
cache_fallback_calls = Counter(
    "cache_fallback_calls_total",
    "Cache calls served by this process's counters while Redis was away.",
)


class _StateCollector(Collector):
    """Gauges read at scrape time: the connection pool."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = getattr(connections[DEFAULT_DB_ALIAS], "pool", None)
        if pool is not None:
            stats = pool.get_stats()
            gauge = GaugeMetricFamily(
                "db_pool_connections", "This process's pool.", labels=["state"]
            )
            gauge.add_metric(["size"], stats.get("pool_size", 0))
            gauge.add_metric(["idle"], stats.get("pool_available", 0))
            gauge.add_metric(["waiting_requests"], stats.get("requests_waiting", 0))
            yield gauge


_STATE = CollectorRegistry(auto_describe=False)
_STATE.register(_StateCollector())


def register_state(collector: Collector) -> None:
    """Add gauges read at each scrape (an app's, from its AppConfig.ready())."""
    _STATE.register(collector)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format; sync, so the scrape's queries run in a thread."""
    expected = settings.API_METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Http404()
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    body = generate_latest(registry) + generate_latest(_STATE)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
