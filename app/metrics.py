"""Prometheus metrics of the API process: requests by route and status, jobs by kind and status, queue depth (the
Celery lists, and queued and running jobs per queue and team).

Each app gets its own registry (several apps in one test process must not collide). Job counts and queue depth
are read from Redis at scrape time, so every API replica reports the same cluster-wide figures.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Iterator

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rewriter.jobs.kinds import lifecycle
from rewriter.service.store import Store

# The Celery queues (Redis lists named after the queue; kombu keeps priority levels 3/6/9 in suffixed lists).
QUEUES = ("cpu", "gpu")
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


class StoreCollector(Collector):
    def __init__(self, store: Store, queues: Iterable[str] = QUEUES) -> None:
        self.store = store
        self.queues = tuple(queues)

    def describe(self) -> list[Metric]:
        return []  # no Redis round trip when the collector is registered

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("rewriter_redis_up", "1 when the metrics scrape could read Redis.")
        jobs = GaugeMetricFamily("rewriter_jobs", "Jobs by kind and status.", labels=["kind", "status"])
        depth = GaugeMetricFamily(
            "rewriter_queue_depth", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        queued = GaugeMetricFamily(
            "rewriter_queued_jobs",
            "Jobs waiting to run (status queued, also those held back by their team's limit), by queue and team.",
            labels=["queue", "team"],
        )
        running = GaugeMetricFamily(
            "rewriter_running_jobs", "Jobs a worker runs now, by queue and team.", labels=["queue", "team"]
        )
        try:
            counts = self.store.job_counts()
            per_team = self.store.team_job_counts()
            lengths = {
                queue: sum(int(self.store.redis.llen(queue + suffix)) for suffix in _PRIORITY_SUFFIXES)
                for queue in self.queues
            }
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for (kind, status), value in sorted(counts.items()):
            jobs.add_metric([kind, status], value)
        for queue, length in lengths.items():
            depth.add_metric([queue], length)
        waiting: collections.Counter[tuple[str, str]] = collections.Counter()
        busy: collections.Counter[tuple[str, str]] = collections.Counter()
        for (team, queue, kind, status), value in per_team.items():
            cycle = lifecycle(kind)
            if status == cycle.queued:
                waiting[(queue, team)] += value
            elif status in cycle.active:
                busy[(queue, team)] += value
        for (queue, team), value in sorted(waiting.items()):
            queued.add_metric([queue, team], value)
        for (queue, team), value in sorted(busy.items()):
            running.add_metric([queue, team], value)
        yield from (up, jobs, depth, queued, running)


class Metrics:
    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rewriter_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rewriter_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.registry.register(StoreCollector(store))


class MetricsMiddleware:
    """Counts and times every HTTP request, labelled by the route template (``/v1/files/{file_id}``), into the
    ``Metrics`` that ``metrics(scope)`` finds for the request (the app's, opened by its lifespan)."""

    def __init__(self, app: ASGIApp, metrics: Callable[[Scope], Metrics]) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics = self.metrics(scope)
            metrics.requests.labels(scope["method"], route, str(status)).inc()
            metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - started)
