"""What every part of the store shares: the Redis client and the cursor pages of the sorted-set indexes.

The client rides out a Redis restart: a call that meets a dropped connection, a refused connect, a timeout or a
Redis still loading its AOF is retried with exponential backoff for ``patience`` seconds (``PatientRetry``), then
raises. Workers and job processes wait long (``RedisSettings.patience_seconds``); the API waits briefly and
answers 503. A retried call may have been applied once already (the reply was lost with the connection), so every
write the store makes is idempotent or recognises its own earlier application: see ``events``, ``jobs`` and
``transitions``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar, cast

import redis
import redis.asyncio
import redis.asyncio.retry
from redis.backoff import AbstractBackoff, ExponentialBackoff
from redis.retry import Retry

from rewriter.errors import InvalidRequest, NotFound, Unavailable
from rewriter.service.store.records import Order, Page
from rewriter.settings import RedisSettings

T = TypeVar("T")
MAX_PAGE = 10_000
# Retried: a dropped or refused connection, a timeout, and BusyLoadingError (a ConnectionError: Redis is loading
# its AOF after a restart).
RETRIED = (redis.ConnectionError, redis.TimeoutError, TimeoutError, ConnectionError)


class PatientRetry(Retry):
    """redis-py's ``Retry`` bounded by time instead of a count: try again with exponential backoff (``base``
    doubling up to ``cap``) until ``patience`` seconds have passed since the call began, then raise. (Measured
    from the start, so the connect retry nested inside a command's retry does not add a second patience.)

    >>> attempts = []
    >>> def flaky() -> str:
    ...     attempts.append(1)
    ...     if len(attempts) < 3:
    ...         raise redis.ConnectionError("connection refused")
    ...     return "ok"
    >>> PatientRetry(patience=5, cap=0.01).call_with_retry(flaky, lambda error: None), len(attempts)
    ('ok', 3)
    >>> attempts.clear()
    >>> PatientRetry(patience=0).call_with_retry(flaky, lambda error: None)
    Traceback (most recent call last):
    ...
    redis.exceptions.ConnectionError: connection refused
    """

    def __init__(self, patience: float, cap: float = 1.0, base: float = 0.02) -> None:
        super().__init__(ExponentialBackoff(cap=cap, base=base), retries=-1, supported_errors=RETRIED)
        self.patience = patience

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PatientRetry) and super().__eq__(other) and self.patience == other.patience

    __hash__ = Retry.__hash__

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        deadline = time.monotonic() + self.patience
        failures = 0
        while True:
            try:
                return do()
            except self._supported_errors as error:
                if is_retryable and not is_retryable(error):
                    raise
                failures += 1
                if with_failure_count:
                    fail(error, failures)
                else:
                    fail(error)
                pause = _pause(self._backoff, failures, deadline)
                if pause is None:
                    raise error
                time.sleep(pause)


class AsyncPatientRetry(redis.asyncio.retry.Retry):
    """``PatientRetry`` for ``redis.asyncio``: the same bounded patience, waiting with ``asyncio.sleep``.

    >>> attempts = []
    >>> async def flaky() -> str:
    ...     attempts.append(1)
    ...     if len(attempts) < 3:
    ...         raise redis.ConnectionError("connection refused")
    ...     return "ok"
    >>> async def ignore(error: Exception) -> None: ...
    >>> asyncio.run(AsyncPatientRetry(patience=5, cap=0.01).call_with_retry(flaky, ignore)), len(attempts)
    ('ok', 3)
    """

    def __init__(self, patience: float, cap: float = 1.0, base: float = 0.02) -> None:
        super().__init__(ExponentialBackoff(cap=cap, base=base), retries=-1, supported_errors=RETRIED)  # type: ignore[arg-type]
        self.patience = patience

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, AsyncPatientRetry) and super().__eq__(other) and self.patience == other.patience
        )

    __hash__ = redis.asyncio.retry.Retry.__hash__

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        deadline = time.monotonic() + self.patience
        failures = 0
        while True:
            try:
                return await do()
            except self._supported_errors as error:
                if is_retryable and not is_retryable(error):
                    raise
                failures += 1
                await (fail(error, failures) if with_failure_count else fail(error))
                pause = _pause(self._backoff, failures, deadline)
                if pause is None:
                    raise error
                await asyncio.sleep(pause)


def _pause(backoff: AbstractBackoff, failures: int, deadline: float) -> float | None:
    """The wait before the next try, or None when the try would begin past ``deadline`` (give up)."""
    pause = backoff.compute(failures)
    return None if time.monotonic() + pause > deadline else pause


def redis_client(url: str, settings: RedisSettings, *, patience: float | None = None) -> redis.Redis:
    """A client for ``url`` with bounded connect and reply timeouts that retries for ``patience`` seconds
    (default: ``settings.patience_seconds``, the workers'; the API passes ``settings.api_patience_seconds``)."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        health_check_interval=30,
        socket_connect_timeout=settings.connect_timeout_seconds,
        socket_timeout=settings.socket_timeout_seconds,
        socket_keepalive=True,
        retry=PatientRetry(
            settings.patience_seconds if patience is None else patience, cap=settings.backoff_cap_seconds
        ),
        retry_on_error=list(RETRIED),
    )


def async_redis_client(url: str, settings: RedisSettings, *, patience: float) -> redis.asyncio.Redis:
    """``redis_client`` for ``redis.asyncio``, for the API's reads on the event loop: the same timeouts, a
    ``patience`` of retries, and one connection pool per process (a connection per request in flight, reused)."""
    return redis.asyncio.Redis.from_url(
        url,
        decode_responses=True,
        health_check_interval=30,
        socket_connect_timeout=settings.connect_timeout_seconds,
        socket_timeout=settings.socket_timeout_seconds,
        socket_keepalive=True,
        retry=AsyncPatientRetry(patience, cap=settings.backoff_cap_seconds),
        retry_on_error=list(RETRIED),
    )


class StoreBase:
    """The Redis client, shared by the resource mixins that make up ``Store``."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    @classmethod
    def from_url(
        cls, url: str, settings: RedisSettings | None = None, *, patience: float | None = None
    ) -> Self:
        """A store on ``url`` that retries for ``patience`` seconds (``redis_client``)."""
        return cls(redis_client(url, settings or RedisSettings(), patience=patience))

    def ping(self) -> None:
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            raise Unavailable(f"redis is not reachable: {exc}") from exc

    def _page(
        self,
        index: str,
        after: str | None,
        limit: int,
        order: Order,
        prefix: str,
        build: Callable[[dict[str, str]], T],
    ) -> Page[T]:
        """One page of the hashes ``prefix + id`` listed in the sorted set ``index``, after the id ``after``."""
        check_limit(limit)
        start = 0
        if after is not None:
            rank = self.redis.zrevrank(index, after) if order == "desc" else self.redis.zrank(index, after)
            start = page_start(after, cast(int | None, rank))
        ids = cast(list[str], self.redis.zrange(index, start, start + limit, desc=order == "desc"))
        pipe = self.redis.pipeline(transaction=False)
        for item in ids[:limit]:
            pipe.hgetall(prefix + item)
        return page_of(ids, pipe.execute(), limit, build)


def page_start(after: str, rank: int | None) -> int:
    """The rank a page starts at when it follows the id ``after``, found at ``rank`` of the list's index.

    >>> page_start("file-a", 4)
    5
    >>> page_start("file-b", None)
    Traceback (most recent call last):
    ...
    rewriter.errors.NotFound: after: no such id in this list: file-b
    """
    if rank is None:
        # an id the list does not hold is no resource of it: 404, as for any unknown id
        raise NotFound(f"after: no such id in this list: {after}", param="after")
    return rank + 1


def page_of(
    ids: list[str], hashes: list[dict[str, str]], limit: int, build: Callable[[dict[str, str]], T]
) -> Page[T]:
    """The page of the first ``limit`` of ``ids`` (one more was read, to tell ``has_more``), from their
    ``hashes``; an id whose hash is gone (deleted meanwhile) is left out."""
    return Page([build(raw) for raw in hashes if raw], has_more=len(ids) > limit)


def check_limit(limit: int) -> None:
    """Refuse a page size outside 1..MAX_PAGE.

    >>> check_limit(MAX_PAGE + 1)
    Traceback (most recent call last):
    ...
    rewriter.errors.InvalidRequest: limit must be between 1 and 10000
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", param="limit")
