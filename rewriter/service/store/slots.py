"""Per-team running slots: at most ``limit`` jobs of one team run at once (``worker.team_max_running_jobs``).

- ``rw:team:{team}:running`` — sorted set job id → when it took its slot: the jobs holding the team's slots.
- ``rw:team:{team}:waiting`` — sorted set job id → when it first found them all held: the team's waiting jobs,
  oldest first; ``rw:waiting_teams`` — the teams that have some.

A worker takes a slot before it claims a job (``acquire_slot``). When the slots are all held the job joins its
team's waiting set in the same script and stays `queued`; the worker drops the message and takes the next one —
another team's job. When a run ends its worker gives the slot back and, in the same script, picks the team's oldest
waiting job that is still `queued` (``release_slot``), which it enqueues again. Taking and giving back are each one
Lua script, so a job never waits while a slot is free without being woken. A slot whose job has neither a fresh
heartbeat (``rw:heartbeats``) nor a fresh taking is freed by the next taker: a worker that died holding a slot
blocks its team for at most the staleness period. The sweep re-sends the oldest job of a team that waited longer
than that (``stale_waiting``), should a wake-up have been lost with its worker.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import cast

import redis

from rewriter.service.store.base import StoreBase

WAITING_TEAMS = "rw:waiting_teams"

# KEYS: the team's slots, heartbeats, the team's waiting jobs, the waiting teams.
# ARGV: job id, limit, now, stale-after seconds, team.
# Returns 2 when the job holds a slot already, 1 when it took one, 0 when it joined the waiting jobs, -1 when it was
# waiting already.
ACQUIRE = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 2 end
local now, stale = tonumber(ARGV[3]), tonumber(ARGV[4])
local held = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #held, 2 do
  local last = tonumber(held[i + 1])
  local beat = redis.call('ZSCORE', KEYS[2], held[i])
  if beat and tonumber(beat) > last then last = tonumber(beat) end
  if last < now - stale then redis.call('ZREM', KEYS[1], held[i]) end
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 1
end
redis.call('SADD', KEYS[4], ARGV[5])
if redis.call('ZADD', KEYS[3], 'NX', now, ARGV[1]) == 1 then return 0 end
return -1
"""

# KEYS: the team's slots, the team's waiting jobs, the waiting teams. ARGV: job id, team.
# Gives the slot back and returns the oldest waiting job still `queued` (dropping those that are not), or false.
RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
while true do
  local oldest = redis.call('ZPOPMIN', KEYS[2])
  if #oldest == 0 then
    redis.call('SREM', KEYS[3], ARGV[2])
    return false
  end
  if redis.call('HGET', 'rw:job:' .. oldest[1], 'status') == 'queued' then return oldest[1] end
end
"""


class Slot(Enum):
    TAKEN = 1  # this call took it: give it back if the job is not run after all
    HELD = 2  # the job held it already (another delivery of its message, a re-sent job)
    WAITING = 0  # all held: the job joined its team's waiting jobs
    STILL_WAITING = -1  # all held, and the job was waiting already


class Slots(StoreBase):
    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self._acquire = client.register_script(ACQUIRE)
        self._release = client.register_script(RELEASE)

    def acquire_slot(self, team: str, job_id: str, *, limit: int, stale_after: float) -> Slot:
        """Take one of the team's ``limit`` running slots for ``job_id``, or make it wait (see the module)."""
        keys = [f"rw:team:{team}:running", "rw:heartbeats", f"rw:team:{team}:waiting", WAITING_TEAMS]
        return Slot(int(self._acquire(keys=keys, args=[job_id, limit, time.time(), stale_after, team])))

    def release_slot(self, team: str, job_id: str) -> str | None:
        """Give ``job_id``'s slot back; the team's oldest waiting job still `queued`, to enqueue now, if any."""
        keys = [f"rw:team:{team}:running", f"rw:team:{team}:waiting", WAITING_TEAMS]
        woken = self._release(keys=keys, args=[job_id, team])
        return str(woken) if woken else None

    def running_slots(self, team: str) -> list[str]:
        """The jobs holding the team's slots now."""
        return [str(member) for member in self.redis.zrange(f"rw:team:{team}:running", 0, -1)]

    def waiting_jobs(self, team: str) -> list[str]:
        """The team's waiting jobs, oldest first."""
        return [str(member) for member in self.redis.zrange(f"rw:team:{team}:waiting", 0, -1)]

    def stale_waiting(self, older_than: float) -> list[str]:
        """Per team, its oldest waiting job if it has waited more than ``older_than`` seconds: the sweep sends it
        again (it stays in the waiting set, so a job that still finds no slot keeps its place)."""
        found = []
        for team in cast(set[str], self.redis.smembers(WAITING_TEAMS)):
            oldest = self.redis.zrangebyscore(
                f"rw:team:{team}:waiting", "-inf", time.time() - older_than, start=0, num=1
            )
            found += [str(job_id) for job_id in oldest]
        return found
