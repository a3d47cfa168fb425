"""An open-loop load of API GETs, for ``bench/service.py --load``.

Requests are sent on a fixed schedule (``rate`` per second, request ``i`` at ``start + i / rate``) whether or not
the earlier ones have answered, so a slow server cannot slow the offered load down (no coordinated omission: the
latency counts from the scheduled time, so a request the client could only send late is charged for it). The
mix cycles through ``paths``. Bounded: ``count`` requests, each with a ``timeout``, the whole phase at most
``max_seconds``; what has not answered by then counts as an error.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class PhaseResult:
    name: str
    latencies_ms: list[float]  # of the requests answered 2xx
    errors: int  # non-2xx, transport errors, timeouts and requests cut off by ``max_seconds``
    seconds: float  # from the first scheduled send to the last answer
    late_sends: int  # requests the client sent more than 5 ms after their scheduled time

    @property
    def count(self) -> int:
        return len(self.latencies_ms) + self.errors

    def percentile(self, q: float) -> float:
        """The ``q``-quantile (nearest rank) of the latencies, in ms.

        >>> PhaseResult("x", [float(i) for i in range(1, 101)], 0, 1.0, 0).percentile(0.99)
        99.0
        """
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        rank = max(1, -(-int(q * len(ordered) * 1000) // 1000))  # ceil(q * n), without float noise
        return ordered[min(rank, len(ordered)) - 1]

    def row(self) -> str:
        p = self.percentile
        latencies = " / ".join(f"{p(q):.1f}" for q in (0.5, 0.9, 0.99))
        return (
            f"{self.name}: {self.count} requests in {self.seconds:.1f} s = {self.count / self.seconds:.0f} req/s; "
            f"p50/p90/p99 {latencies} ms, max {max(self.latencies_ms, default=float('nan')):.1f} ms; "
            f"{self.errors} errors; {self.late_sends} sent > 5 ms late"
        )


async def _run(
    name: str,
    base_url: str,
    api_key: str,
    paths: list[str],
    count: int,
    rate: float,
    timeout: float,
    max_seconds: float,
) -> PhaseResult:
    latencies: list[float] = []
    errors = 0
    late = 0
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout, limits=limits) as http:
        # Warm up: open a few connections and let the server's first-request costs pass, outside the figures.
        await asyncio.gather(*(http.get(path) for path in paths * 4))
        start = time.perf_counter()

        async def one(i: int) -> None:
            nonlocal errors, late
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > 0.005:
                late += 1
            try:
                response = await http.get(paths[i % len(paths)])
            except httpx.HTTPError:
                errors += 1
                return
            if response.is_success:
                latencies.append((time.perf_counter() - scheduled) * 1000)
            else:
                errors += 1

        tasks = [asyncio.ensure_future(one(i)) for i in range(count)]
        _done, pending = await asyncio.wait(tasks, timeout=max_seconds)
        for task in pending:
            task.cancel()
        errors += len(pending)
        seconds = time.perf_counter() - start
    return PhaseResult(name, latencies, errors, seconds, late)


def run_phase(
    name: str,
    base_url: str,
    api_key: str,
    paths: list[str],
    *,
    count: int = 2000,
    rate: float = 200.0,
    timeout: float = 10.0,
    max_seconds: float = 60.0,
) -> PhaseResult:
    """One phase of ``count`` GETs of ``paths`` (cycled, relative to ``base_url``) offered at ``rate`` per second."""
    return asyncio.run(_run(name, base_url, api_key, paths, count, rate, timeout, max_seconds))
