"""What every part of the store shares: the Redis client and the cursor pages of the sorted-set indexes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self, TypeVar, cast

import redis

from rewriter.errors import InvalidRequest, NotFound, Unavailable
from rewriter.service.store.records import Order, Page

T = TypeVar("T")
MAX_PAGE = 10_000


class StoreBase:
    """The Redis client, shared by the resource mixins that make up ``Store``."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    @classmethod
    def from_url(cls, url: str) -> Self:
        return cls(redis.Redis.from_url(url, decode_responses=True, health_check_interval=30))

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
            if rank is None:
                # an id the list does not hold is no resource of it: 404, as for any unknown id
                raise NotFound(f"after: no such id in this list: {after}", param="after")
            start = cast(int, rank) + 1
        ids = cast(list[str], self.redis.zrange(index, start, start + limit, desc=order == "desc"))
        pipe = self.redis.pipeline(transaction=False)
        for item in ids[:limit]:
            pipe.hgetall(prefix + item)
        return Page([build(raw) for raw in pipe.execute() if raw], has_more=len(ids) > limit)


def check_limit(limit: int) -> None:
    """Refuse a page size outside 1..MAX_PAGE.

    >>> check_limit(MAX_PAGE + 1)
    Traceback (most recent call last):
    ...
    rewriter.errors.InvalidRequest: limit must be between 1 and 10000
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", param="limit")
