"""Shard claims of a rewrite job that several processes compute at once (``rewriter.shards.Claims`` in Redis).

Keys: ``rw:job:{id}:shards:total`` (how many shards), ``rw:job:{id}:shards:done`` (a set of finished indices),
``rw:job:{id}:shard:{i}`` (a lease: the owner's name, with a TTL) and ``rw:job:{id}:shards:by`` (index → the
process that finished it). A claim is one Lua script: the first index neither done nor leased gets a lease
(``SET NX PX``), or the one the same owner already holds (so a retried call after a lost reply gets the same
shard). An owner renews its lease while it computes; an owner that dies stops renewing, its lease expires, and the
shard is free again. The shard files in the artifact store are the truth: the done set only saves looking there.
"""

from __future__ import annotations

from typing import cast

from rewriter.service.store.base import StoreBase

KEEP_SECONDS = 7 * 24 * 3600  # the bookkeeping of a job outlives it by a week, then expires

_CLAIM = """
local done, prefix, n, owner, lease = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
for i = 0, n - 1 do
  if redis.call('SISMEMBER', done, i) == 0 then
    local key = prefix .. i
    local holder = redis.call('GET', key)
    if holder == owner then
      redis.call('PEXPIRE', key, lease)
      return i
    end
    if not holder then
      redis.call('SET', key, owner, 'PX', lease)
      return i
    end
  end
end
return -1
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_FINISH = """
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""


class Shards(StoreBase):
    def _shard_keys(self, job_id: str) -> tuple[str, str, str, str]:
        base = f"rw:job:{job_id}"
        return f"{base}:shards:total", f"{base}:shards:done", f"{base}:shard:", f"{base}:shards:by"

    def plan_shards(self, job_id: str, total: int) -> None:
        """Record how many shards the job has (every process of the job cuts it the same way)."""
        self.redis.set(self._shard_keys(job_id)[0], total, ex=KEEP_SECONDS)

    def claim_shard(self, job_id: str, total: int, owner: str, lease_seconds: float) -> int | None:
        """A shard for ``owner`` to compute, leased for ``lease_seconds``; None when every shard is done or held."""
        _, done, prefix, _ = self._shard_keys(job_id)
        index = int(
            cast(
                int,
                self.redis.eval(_CLAIM, 1, done, prefix, total, owner, int(lease_seconds * 1000)),
            )
        )
        return None if index < 0 else index

    def renew_shard(self, job_id: str, index: int, owner: str, lease_seconds: float) -> bool:
        """Extend ``owner``'s lease on the shard; False when it lapsed and someone else may hold it."""
        key = self._shard_keys(job_id)[2] + str(index)
        return bool(self.redis.eval(_RENEW, 1, key, owner, int(lease_seconds * 1000)))

    def finish_shard(self, job_id: str, index: int, owner: str) -> None:
        """Mark the shard done (its file is written) and drop ``owner``'s lease. Idempotent."""
        _, done, prefix, by = self._shard_keys(job_id)
        self.redis.eval(_FINISH, 3, done, prefix + str(index), by, owner, index, KEEP_SECONDS)

    def shards_free(self, job_id: str) -> int | None:
        """How many shards are neither done nor leased now; None before the job's shards are planned."""
        total_key, done, prefix, _ = self._shard_keys(job_id)
        total = self.redis.get(total_key)
        if total is None:
            return None
        finished = {int(i) for i in cast(set[str], self.redis.smembers(done))}
        pending = [i for i in range(int(cast(str, total))) if i not in finished]
        pipe = self.redis.pipeline(transaction=False)
        for i in pending:
            pipe.exists(prefix + str(i))
        return sum(1 for held in pipe.execute() if not held)

    def shard_owners(self, job_id: str) -> dict[int, str]:
        """Which process finished each shard (index → ``host:pid``)."""
        raw = cast(dict[str, str], self.redis.hgetall(self._shard_keys(job_id)[3]))
        return {int(k): v for k, v in raw.items()}
