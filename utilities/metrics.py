"""The utilities app's gauges at /metrics (core/metrics.py): jobs by status."""

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from utilities.models import Job


class JobCollector(Collector):
    """`jobs{status}`, counted in the database at each scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("jobs", "Jobs by status.", labels=["status"])
        counts = dict(
            Job.objects.values_list("status").annotate(n=Count("id")).order_by()
        )
        for status in Job.Status.values:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
