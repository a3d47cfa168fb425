"""Job status changes as Lua scripts, so each is atomic: a cancel racing a completion ends in exactly one state —
whichever is recorded first wins, the other sees a status it may not move from. The same scripts keep
``rw:jobcounts`` (and its per-team, per-queue twin ``rw:teamjobcounts``) exact and add or drop the job in
``rw:heartbeats``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from rewriter.errors import NotFound
from rewriter.ids import now
from rewriter.jobs.kinds import Lifecycle, lifecycle
from rewriter.service.store.base import StoreBase
from rewriter.service.store.codec import encode

# team:queue:kind:status → jobs (the metrics' queue depth and running jobs per team and queue)
TEAM_COUNTS = "rw:teamjobcounts"
# What transition(**fields) may set; the rest is owned by the store itself.
SETTABLE = {"result", "progress", "error", "started_at", "finished_at", "cancel_requested_at"}

# KEYS: job hash, counts hash, heartbeats zset, per-team counts hash.
# ARGV: to, now, heartbeat mode (set|clear|-), expected attempt (or ''), unless-cancel-requested (0|1),
#       increment attempts (0|1), the call's token, number of from-statuses, from-statuses..., field, value, ...
# Returns {0} when refused, {1, attempts} when applied — or when this call's token is the last one applied: the
# client retried a call whose reply was lost (Redis restarted), and it must not be refused by its own effect.
TRANSITION = """
local cur = redis.call('HMGET', KEYS[1], 'status', 'kind', 'attempts', 'cancel_requested_at', 'id', 'last_op',
                       'team', 'queue')
local status = cur[1]
if not status then return {0} end
if cur[6] == ARGV[7] then return {1, tonumber(cur[3] or '0') or 0} end
local nfrom = tonumber(ARGV[8])
local allowed = false
for i = 1, nfrom do
  if ARGV[8 + i] == status then allowed = true break end
end
if not allowed then return {0} end
if ARGV[4] ~= '' and cur[3] ~= ARGV[4] then return {0} end
if ARGV[5] == '1' and cur[4] and cur[4] ~= '' then return {0} end
for i = 9 + nfrom, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updated_at', ARGV[2], 'last_op', ARGV[7])
local attempts = tonumber(cur[3] or '0') or 0
if ARGV[6] == '1' then attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
if status ~= ARGV[1] then
  redis.call('HINCRBY', KEYS[2], cur[2] .. ':' .. status, -1)
  redis.call('HINCRBY', KEYS[2], cur[2] .. ':' .. ARGV[1], 1)
  local team = (cur[7] or '') .. ':' .. (cur[8] or '') .. ':' .. cur[2] .. ':'
  redis.call('HINCRBY', KEYS[4], team .. status, -1)
  redis.call('HINCRBY', KEYS[4], team .. ARGV[1], 1)
end
if ARGV[3] == 'set' then
  redis.call('ZADD', KEYS[3], ARGV[2], cur[5])
  redis.call('HSET', KEYS[1], 'heartbeat_at', ARGV[2])
elseif ARGV[3] == 'clear' then
  redis.call('ZREM', KEYS[3], cur[5])
end
return {1, attempts}
"""

# KEYS: job hash, heartbeats zset. ARGV: now, expected attempt (or ''), active statuses...
HEARTBEAT = """
local cur = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'id')
if not cur[1] then return 0 end
if ARGV[2] ~= '' and cur[2] ~= ARGV[2] then return 0 end
for i = 3, #ARGV do
  if ARGV[i] == cur[1] then
    redis.call('ZADD', KEYS[2], ARGV[1], cur[3])
    redis.call('HSET', KEYS[1], 'heartbeat_at', ARGV[1])
    return 1
  end
end
return 0
"""

# KEYS: job hash. ARGV: field, value, ... — never creates a hash for a job that does not exist.
UPDATE_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""


class Transitions(StoreBase):
    """The scripts, and the checks made before one runs."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self._transition = client.register_script(TRANSITION)
        self._heartbeat = client.register_script(HEARTBEAT)
        self._update = client.register_script(UPDATE_EXISTING)

    def transition(
        self,
        job_id: str,
        from_statuses: Iterable[str],
        to_status: str,
        *,
        attempt: int | None = None,
        unless_cancel_requested: bool = False,
        **fields: Any,
    ) -> bool:
        """Atomically move a job from one of ``from_statuses`` to ``to_status`` and set ``fields``.

        False (and nothing written) when the job is in another status, when ``attempt`` is given and the job has
        been claimed again since, or when ``unless_cancel_requested`` and a cancel was recorded. Entering a
        terminal status stamps ``finished_at``; leaving the supervisor-owned statuses drops the heartbeat.
        """
        applied = self._apply(
            job_id, list(from_statuses), to_status, attempt, unless_cancel_requested, False, fields
        )
        return applied is not None

    def _lifecycle(self, job_id: str) -> Lifecycle:
        """The job's lifecycle, from its kind alone (the spec and result are not read); NotFound if no such job."""
        kind = self.redis.hget(f"rw:job:{job_id}", "kind")
        if kind is None:
            raise NotFound(f"No such job: {job_id}", param="job_id")
        return lifecycle(str(kind))

    def _apply(
        self,
        job_id: str,
        from_statuses: list[str],
        to_status: str,
        attempt: int | None,
        unless_cancel_requested: bool,
        increment_attempts: bool,
        fields: Mapping[str, Any],
    ) -> int | None:
        """Run the transition script: None when refused, else the job's attempt number."""
        unknown = set(fields) - SETTABLE
        if unknown:
            raise TypeError(f"transition cannot set {sorted(unknown)}; settable: {sorted(SETTABLE)}")
        cycle = self._lifecycle(job_id)
        if to_status not in cycle.statuses:
            raise ValueError(f"{to_status!r} is not a status of this job kind: {cycle.statuses}")
        values = dict(fields)
        if to_status in cycle.terminal and "finished_at" not in values:
            values["finished_at"] = now()
        if to_status not in cycle.active:
            mode = "clear"
        elif not cycle.active.intersection(from_statuses):
            mode = "set"  # a supervisor takes the job: its heartbeat starts now
        else:
            mode = "-"
        args: list[Any] = [
            to_status,
            time.time(),
            mode,
            "" if attempt is None else attempt,
            "1" if unless_cancel_requested else "0",
            "1" if increment_attempts else "0",
            uuid.uuid4().hex,
            len(from_statuses),
            *from_statuses,
        ]
        for name, value in values.items():
            args += [name, encode(name, value)]
        keys = [f"rw:job:{job_id}", "rw:jobcounts", "rw:heartbeats", TEAM_COUNTS]
        reply = self._transition(keys=keys, args=args)
        return int(reply[1]) if reply[0] else None

    def _set(self, job_id: str, **fields: Any) -> None:
        args: list[Any] = ["updated_at", time.time()]
        for name, value in fields.items():
            args += [name, encode(name, value)]
        if not self._update(keys=[f"rw:job:{job_id}"], args=args):
            raise NotFound(f"No such job: {job_id}", param="job_id")
