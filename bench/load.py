"""An open-loop load of API GETs, for ``bench/service.py --load``.

Requests are sent on a fixed schedule (``rate`` per second, request ``i`` at ``start + i / rate``) whether or not
the earlier ones have answered, over a pool of keep-alive connections, so a slow server cannot slow the offered load down (no coordinated omission: the
latency counts from the scheduled time, so a request the client could only send late is charged for it). The
mix cycles through ``paths``. Bounded: ``count`` requests, each with a ``timeout``, the whole phase at most
``max_seconds``; what has not answered by then counts as an error.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class PhaseResult:
    name: str
    latencies_ms: list[float]  # of the requests answered 2xx
    errors: int  # non-2xx, transport errors, timeouts and requests cut off by ``max_seconds``
    seconds: float  # from the first scheduled send to the last answer (or the cut-off)
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
            f"{self.name}: {self.count} requests in {self.seconds:.1f} s, "
            f"{len(self.latencies_ms) / self.seconds:.0f} answered/s; "
            f"p50/p90/p99 {latencies} ms, max {max(self.latencies_ms, default=float('nan')):.1f} ms; "
            f"{self.errors} errors; {self.late_sends} sent > 5 ms late"
        )


class _Connection:
    """One keep-alive HTTP/1.1 connection, GETs only: far cheaper per request than a general client, so that the
    load generator (in one Python process on the same machine) is not what the figures measure."""

    def __init__(self, host: str, port: int, headers: bytes) -> None:
        self.host, self.port, self.headers = host, port, headers
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> int:
        """GET ``path``; the status code (the body is read and dropped)."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        try:
            writer.write(b"GET %s HTTP/1.1\r\n%s\r\n" % (path.encode(), self.headers))
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            )
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            self.streams = None
            raise
        return status


async def _run(
    name: str,
    base_url: str,
    api_key: str,
    paths: list[str],
    count: int,
    rate: float,
    timeout: float,
    max_seconds: float,
    connections: int,
) -> PhaseResult:
    url = urlsplit(base_url)
    host, port, prefix = url.hostname or "127.0.0.1", url.port or 80, url.path.rstrip("/")
    headers = f"Host: {host}:{port}\r\nAuthorization: Bearer {api_key}\r\n".encode()
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(_Connection(host, port, headers))
    latencies: list[float] = []
    errors = 0
    late = 0

    async def get(path: str) -> int:
        connection = await idle.get()  # waiting for a free connection counts in the latency
        try:
            return await connection.get(prefix + path)
        finally:
            idle.put_nowait(connection)

    # Warm up: open the connections and let the server's first-request costs pass, outside the figures.
    async with asyncio.timeout(max_seconds):
        await asyncio.gather(*(get(paths[i % len(paths)]) for i in range(connections)))
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
            async with asyncio.timeout(timeout):
                status = await get(paths[i % len(paths)])
        except (OSError, TimeoutError, ValueError, StopIteration, asyncio.IncompleteReadError):
            errors += 1
            return
        if 200 <= status < 300:
            latencies.append((time.perf_counter() - scheduled) * 1000)
        else:
            errors += 1

    tasks = [asyncio.ensure_future(one(i)) for i in range(count)]
    _done, pending = await asyncio.wait(tasks, timeout=max_seconds)
    for task in pending:
        task.cancel()
    errors += len(pending)
    seconds = time.perf_counter() - start
    if pending:
        await asyncio.wait(pending)
    while not idle.empty():
        connection = idle.get_nowait()
        if connection.streams is not None:
            connection.streams[1].close()
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
    connections: int = 32,
) -> PhaseResult:
    """One phase of ``count`` GETs of ``paths`` (cycled, relative to ``base_url``) offered at ``rate`` per second."""
    return asyncio.run(_run(name, base_url, api_key, paths, count, rate, timeout, max_seconds, connections))
