"""Metadata in Redis: files, jobs, per-job event streams, cancel flags, heartbeats and API keys.

Layout (every key under ``rw:``):
- ``rw:file:{id}`` / ``rw:job:{id}`` — hashes, one per resource; JSON for structured fields.
- ``rw:team:{team}:files[:{purpose}]`` / ``rw:team:{team}:jobs:{kind}`` — sorted sets scored by creation time:
  the cursor lists (``after`` = the last id seen).
- ``rw:job:{id}:events`` — a Redis Stream; its entry ids are the event cursors.
- ``rw:heartbeats`` — sorted set job id → last heartbeat (unix seconds) of the jobs a supervisor owns.
- ``rw:jobcounts`` — hash ``kind:status`` → count, kept exact by the same atomic scripts that move statuses.
- ``rw:apikey:{sha256}``, ``rw:team:{id}``, ``rw:teamname:{name}`` — API keys and teams.
- ``rw:model:{id}`` / ``rw:team:{team}:models`` — trained models and adapters (base models are not stored).

Job kinds and their lifecycles live in ``rewriter.jobs``.

Status changes go through one Lua script (:meth:`Store.transition`), so a cancel racing a completion ends in
exactly one state: whichever is recorded first wins, the other sees a status it may not move from.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, cast

import redis

from rewriter.errors import Conflict, InvalidRequest, NotFound, Unauthorized, Unavailable
from rewriter.ids import Prefix, new_id, now
from rewriter.jobs import JOB_KINDS, Lifecycle, lifecycle

T = TypeVar("T")
Order = Literal["asc", "desc"]
MAX_PAGE = 10_000
# Events per job kept in its stream (approximate trim): a long fine-tune logs a few metrics per step.
MAX_EVENTS = 100_000
_STREAM_ID = re.compile(r"^\d+-\d+$")
_TEAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Page(Generic[T]):
    data: list[T]
    has_more: bool


@dataclass(frozen=True)
class FileRecord:
    id: str
    team: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    schema: str
    rows: int
    sha256: str
    path: str  # where the artifact lives in Artifacts
    status: str = "processed"


@dataclass(frozen=True)
class ModelRecord:
    """A model a job trained: full weights (``kind="model"``) or a LoRA adapter on ``parent``."""

    id: str
    team: str
    created_at: int
    kind: str  # model | adapter
    parent: str  # the model it was trained from (a base model or another trained model)
    base: str  # the base model at the root of its lineage
    path: str  # its directory in Artifacts
    job_id: str
    training_file: str
    method: str


@dataclass(frozen=True)
class JobRecord:
    id: str
    team: str
    kind: str
    status: str
    queue: str
    spec: dict[str, Any]
    created_at: int
    updated_at: float
    started_at: int | None = None
    finished_at: int | None = None
    result: Any = None
    progress: Any = None
    error: dict[str, Any] | None = None
    attempts: int = 0
    heartbeat_at: float | None = None
    cancel_requested_at: int | None = None

    @property
    def lifecycle(self) -> Lifecycle:
        return lifecycle(self.kind)

    @property
    def is_terminal(self) -> bool:
        return self.status in self.lifecycle.terminal


@dataclass(frozen=True)
class Event:
    id: str  # the stream entry id: pass it back as `after`
    created_at: int
    level: str
    type: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


_JSON_FIELDS = {"spec", "result", "progress", "error"}
_INT_FIELDS = {"created_at", "started_at", "finished_at", "attempts", "cancel_requested_at"}
_FLOAT_FIELDS = {"updated_at", "heartbeat_at"}
# What transition(**fields) may set; the rest is owned by the store itself.
_SETTABLE = {"result", "progress", "error", "started_at", "finished_at", "cancel_requested_at"}

# KEYS: job hash, counts hash, heartbeats zset.
# ARGV: to, now, heartbeat mode (set|clear|-), expected attempt (or ''), unless-cancel-requested (0|1),
#       increment attempts (0|1), number of from-statuses, from-statuses..., field, value, ...
# Returns {0} when refused, {1, attempts} when applied.
_TRANSITION = """
local cur = redis.call('HMGET', KEYS[1], 'status', 'kind', 'attempts', 'cancel_requested_at', 'id')
local status = cur[1]
if not status then return {0} end
local nfrom = tonumber(ARGV[7])
local allowed = false
for i = 1, nfrom do
  if ARGV[7 + i] == status then allowed = true break end
end
if not allowed then return {0} end
if ARGV[4] ~= '' and cur[3] ~= ARGV[4] then return {0} end
if ARGV[5] == '1' and cur[4] and cur[4] ~= '' then return {0} end
for i = 8 + nfrom, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updated_at', ARGV[2])
local attempts = tonumber(cur[3] or '0') or 0
if ARGV[6] == '1' then attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
if status ~= ARGV[1] then
  redis.call('HINCRBY', KEYS[2], cur[2] .. ':' .. status, -1)
  redis.call('HINCRBY', KEYS[2], cur[2] .. ':' .. ARGV[1], 1)
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
_HEARTBEAT = """
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
_UPDATE_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""


def _encode(name: str, value: Any) -> str:
    if name in _JSON_FIELDS:
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def _decode(name: str, raw: str) -> Any:
    if name in _JSON_FIELDS:
        return json.loads(raw) if raw else None
    if raw == "":
        return None
    if name in _INT_FIELDS:
        return int(raw)
    if name in _FLOAT_FIELDS:
        return float(raw)
    return raw


def _key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


class Store:
    """All Redis access of the service. Cheap to build; share one per process."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._transition = client.register_script(_TRANSITION)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._update = client.register_script(_UPDATE_EXISTING)

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(redis.Redis.from_url(url, decode_responses=True, health_check_interval=30))

    def ping(self) -> None:
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            raise Unavailable(f"redis is not reachable: {exc}") from exc

    # ---- teams and API keys -------------------------------------------------------------------------------

    def ensure_team(self, name: str) -> str:
        """The id of the team called ``name``, created on first use."""
        if not _TEAM_NAME.match(name):
            raise InvalidRequest(
                "team name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                param="team",
            )
        candidate = new_id(Prefix.TEAM)
        if self.redis.set(f"rw:teamname:{name}", candidate, nx=True):
            self.redis.hset(
                f"rw:team:{candidate}", mapping={"id": candidate, "name": name, "created_at": now()}
            )
            return candidate
        return str(self.redis.get(f"rw:teamname:{name}"))

    def team_name(self, team: str) -> str:
        name = self.redis.hget(f"rw:team:{team}", "name")
        if name is None:
            raise NotFound(f"No such team: {team}", param="team")
        return str(name)

    def create_key(self, team_name: str) -> str:
        """A new API key for the team (created if needed). Only its sha256 is stored: show the plaintext once."""
        team = self.ensure_team(team_name)
        plaintext = "sk-rw-" + secrets.token_urlsafe(32)
        self.redis.hset(
            f"rw:apikey:{_key_hash(plaintext)}",
            mapping={"id": new_id(Prefix.KEY), "team": team, "created_at": now()},
        )
        return plaintext

    def team_for_key(self, plaintext: str) -> str:
        team = self.redis.hget(f"rw:apikey:{_key_hash(plaintext)}", "team")
        if team is None:
            raise Unauthorized("Incorrect API key provided.", code="invalid_api_key")
        return str(team)

    # ---- files --------------------------------------------------------------------------------------------

    def add_file(self, record: FileRecord) -> None:
        score = time.time()
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(f"rw:file:{record.id}", mapping={k: _encode(k, v) for k, v in record.__dict__.items()})
        pipe.zadd(f"rw:team:{record.team}:files", {record.id: score})
        pipe.zadd(f"rw:team:{record.team}:files:{record.purpose}", {record.id: score})
        pipe.execute()

    def get_file(self, file_id: str, *, team: str | None) -> FileRecord:
        """The file, if it exists and (when ``team`` is given) belongs to that team; NotFound otherwise."""
        raw = cast(dict[str, str], self.redis.hgetall(f"rw:file:{file_id}"))
        if not raw or (team is not None and raw.get("team") != team):
            raise NotFound(f"No such File object: {file_id}", param="file_id")
        return _file_from_hash(raw)

    def list_files(
        self,
        team: str,
        *,
        after: str | None = None,
        limit: int = 100,
        order: Order = "desc",
        purpose: str | None = None,
    ) -> Page[FileRecord]:
        index = f"rw:team:{team}:files" + (f":{purpose}" if purpose else "")
        return self._page(index, after, limit, order, "rw:file:", _file_from_hash)

    def delete_file(self, file_id: str, *, team: str | None) -> FileRecord:
        """Forget the file's metadata and return it (the caller removes the artifact)."""
        record = self.get_file(file_id, team=team)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(f"rw:file:{file_id}")
        pipe.zrem(f"rw:team:{record.team}:files", file_id)
        pipe.zrem(f"rw:team:{record.team}:files:{record.purpose}", file_id)
        pipe.execute()
        return record

    # ---- models -------------------------------------------------------------------------------------------

    def add_model(self, record: ModelRecord) -> ModelRecord:
        """Record a trained model; idempotent for its job: a rerun of the same job gets the record made first."""
        key = f"rw:model:{record.id}"
        if not self.redis.hsetnx(key, "id", record.id):
            existing = self.get_model(record.id, team=None)
            if existing.job_id != record.job_id:
                raise Conflict(f"model id {record.id} is taken by job {existing.job_id}")
            return existing
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping={k: str(v) for k, v in record.__dict__.items()})
        pipe.zadd(f"rw:team:{record.team}:models", {record.id: time.time()})
        pipe.execute()
        return record

    def get_model(self, model_id: str, *, team: str | None) -> ModelRecord:
        raw = cast(dict[str, str], self.redis.hgetall(f"rw:model:{model_id}"))
        if len(raw) < 2 or (team is not None and raw.get("team") != team):
            raise NotFound(f"The model '{model_id}' does not exist", param="model", code="model_not_found")
        return _model_from_hash(raw)

    def list_models(self, team: str) -> list[ModelRecord]:
        """The team's trained models, oldest first."""
        ids = cast(list[str], self.redis.zrange(f"rw:team:{team}:models", 0, -1))
        pipe = self.redis.pipeline(transaction=False)
        for model_id in ids:
            pipe.hgetall(f"rw:model:{model_id}")
        return [_model_from_hash(raw) for raw in pipe.execute() if len(raw) > 1]

    # ---- jobs ---------------------------------------------------------------------------------------------

    def create_job(
        self, team: str, kind: str, spec: Mapping[str, Any], *, queue: str = "cpu", status: str | None = None
    ) -> JobRecord:
        """Record a job (not yet enqueued: record, then enqueue). Starts in the kind's initial status."""
        cycle = lifecycle(kind)
        status = status or cycle.initial
        if status not in cycle.pending:
            raise InvalidRequest(f"a {kind} job starts as one of {sorted(cycle.pending)}, not {status!r}")
        created = time.time()
        job = JobRecord(
            id=new_id(JOB_KINDS[kind][1]),
            team=team,
            kind=kind,
            status=status,
            queue=queue,
            spec=dict(spec),
            created_at=int(created),
            updated_at=created,
        )
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(f"rw:job:{job.id}", mapping={k: _encode(k, v) for k, v in job.__dict__.items()})
        pipe.zadd(f"rw:team:{team}:jobs:{kind}", {job.id: created})
        pipe.hincrby("rw:jobcounts", f"{kind}:{status}", 1)
        pipe.execute()
        return job

    def get_job(self, job_id: str, *, team: str | None) -> JobRecord:
        """The job, if it exists and (when ``team`` is given) belongs to that team; NotFound otherwise."""
        raw = cast(dict[str, str], self.redis.hgetall(f"rw:job:{job_id}"))
        if not raw or (team is not None and raw.get("team") != team):
            raise NotFound(f"No such job: {job_id}", param="job_id")
        return _job_from_hash(raw)

    def list_jobs(
        self, team: str, kind: str, *, after: str | None = None, limit: int = 20, order: Order = "desc"
    ) -> Page[JobRecord]:
        lifecycle(kind)
        return self._page(f"rw:team:{team}:jobs:{kind}", after, limit, order, "rw:job:", _job_from_hash)

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

    def claim(self, job_id: str) -> int | None:
        """Move a pending job to its running status for a new supervisor; its attempt number, or None if taken."""
        job = self.get_job(job_id, team=None)
        cycle = job.lifecycle
        return self._apply(
            job_id, sorted(cycle.pending), cycle.running, None, False, True, {"started_at": now()}
        )

    def finish(self, job_id: str, *, succeeded: bool, attempt: int | None = None, **fields: Any) -> str:
        """End a supervised run: done (or failed) — unless a cancel was recorded first, which wins. Final status."""
        cycle = self.get_job(job_id, team=None).lifecycle
        owned = sorted(cycle.active - {cycle.cancelling or ""})
        target = cycle.done if succeeded else cycle.failed
        if self.transition(job_id, owned, target, attempt=attempt, unless_cancel_requested=True, **fields):
            return target
        extra = {k: v for k, v in fields.items() if k == "result"}
        self.transition(job_id, sorted(cycle.active), cycle.cancelled, attempt=attempt, **extra)
        return self.get_job(job_id, team=None).status

    def request_cancel(self, job_id: str, *, team: str | None) -> JobRecord:
        """Cancel a job: pending → cancelled at once; running → cancel flag (+ `cancelling`) for its supervisor.

        Cancelling a cancelled job is a no-op; cancelling a finished one is a Conflict.
        """
        for _ in range(10):  # each step is atomic; retry only if the status moved under us
            job = self.get_job(job_id, team=team)
            cycle = job.lifecycle
            if job.status == cycle.cancelled or job.status == cycle.cancelling:
                return job
            if job.status in cycle.terminal:
                raise Conflict(f"Job {job_id} has already {job.status}; it can no longer be cancelled.")
            stamp = now()
            if job.status in cycle.pending:
                moved = self.transition(job_id, [job.status], cycle.cancelled, cancel_requested_at=stamp)
            else:
                to = cycle.cancelling or job.status
                moved = self.transition(job_id, [job.status], to, cancel_requested_at=stamp)
            if moved:
                return self.get_job(job_id, team=None)
        raise Conflict(f"Job {job_id} is changing status too fast to cancel; try again.")

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.redis.hget(f"rw:job:{job_id}", "cancel_requested_at"))

    def set_progress(self, job_id: str, progress: Any) -> None:
        self._set(job_id, progress=progress)

    def set_result(self, job_id: str, result: Any) -> None:
        self._set(job_id, result=result)

    def heartbeat(self, job_id: str, *, attempt: int | None = None) -> bool:
        """Record that the job's supervisor is alive. False when the job is no longer this supervisor's to run."""
        cycle = self.get_job(job_id, team=None).lifecycle
        args = [time.time(), "" if attempt is None else attempt, *sorted(cycle.active)]
        return bool(self._heartbeat(keys=[f"rw:job:{job_id}", "rw:heartbeats"], args=args))

    def stale_jobs(self, older_than: float) -> list[JobRecord]:
        """Supervised jobs whose last heartbeat is more than ``older_than`` seconds old."""
        ids = cast(list[str], self.redis.zrangebyscore("rw:heartbeats", "-inf", time.time() - older_than))
        jobs = []
        for job_id in ids:
            try:
                job = self.get_job(job_id, team=None)
            except NotFound:
                self.redis.zrem("rw:heartbeats", job_id)
                continue
            if job.status in job.lifecycle.active:
                jobs.append(job)
        return jobs

    def requeue_stale(self, older_than: float) -> list[JobRecord]:
        """Put jobs whose supervisor went silent back to `queued` (cancelled, if a cancel was asked).

        Returns the jobs now queued: the caller enqueues them.
        """
        queued = []
        for job in self.stale_jobs(older_than):
            cycle = job.lifecycle
            owned = sorted(cycle.active - {cycle.cancelling or ""})
            if self.transition(
                job.id, owned, cycle.queued, attempt=job.attempts, unless_cancel_requested=True
            ):
                queued.append(self.get_job(job.id, team=None))
            else:
                self.transition(job.id, sorted(cycle.active), cycle.cancelled, attempt=job.attempts)
        return queued

    def job_counts(self) -> dict[tuple[str, str], int]:
        """(kind, status) → number of jobs, for the metrics gauge."""
        counts: dict[tuple[str, str], int] = {}
        for name, value in cast(dict[str, str], self.redis.hgetall("rw:jobcounts")).items():
            kind, _, status = name.partition(":")
            counts[(kind, status)] = int(value)
        return counts

    # ---- events -------------------------------------------------------------------------------------------

    def add_event(
        self,
        job_id: str,
        message: str,
        *,
        level: str = "info",
        type: str = "message",
        data: Mapping[str, Any] | None = None,
    ) -> str:
        """Append an event to the job's stream; returns its id (a cursor for ``list_events(after=...)``)."""
        entry: dict[Any, Any] = {
            "created_at": now(),
            "level": level,
            "type": type,
            "message": message,
            "data": json.dumps(data or {}),
        }
        return str(self.redis.xadd(f"rw:job:{job_id}:events", entry, maxlen=MAX_EVENTS, approximate=True))

    def list_events(
        self, job_id: str, *, team: str | None, after: str | None = None, limit: int = 20
    ) -> Page[Event]:
        """Events oldest first, strictly after the cursor ``after`` (an event id)."""
        self.get_job(job_id, team=team)
        _check_limit(limit)
        if after is not None and not _STREAM_ID.match(after):
            raise InvalidRequest(
                f"after must be an event id such as 1700000000000-0, not {after!r}", param="after"
            )
        start = f"({after}" if after else "-"
        entries = cast(
            list[tuple[str, dict[str, str]]],
            self.redis.xrange(f"rw:job:{job_id}:events", min=start, max="+", count=limit + 1),
        )
        events = [
            Event(
                id=entry_id,
                created_at=int(values["created_at"]),
                level=values["level"],
                type=values["type"],
                message=values["message"],
                data=json.loads(values["data"]),
            )
            for entry_id, values in entries[:limit]
        ]
        return Page(events, has_more=len(entries) > limit)

    # ---- internals ----------------------------------------------------------------------------------------

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
        unknown = set(fields) - _SETTABLE
        if unknown:
            raise TypeError(f"transition cannot set {sorted(unknown)}; settable: {sorted(_SETTABLE)}")
        cycle = self.get_job(job_id, team=None).lifecycle
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
            len(from_statuses),
            *from_statuses,
        ]
        for name, value in values.items():
            args += [name, _encode(name, value)]
        reply = self._transition(keys=[f"rw:job:{job_id}", "rw:jobcounts", "rw:heartbeats"], args=args)
        return int(reply[1]) if reply[0] else None

    def _set(self, job_id: str, **fields: Any) -> None:
        args: list[Any] = ["updated_at", time.time()]
        for name, value in fields.items():
            args += [name, _encode(name, value)]
        if not self._update(keys=[f"rw:job:{job_id}"], args=args):
            raise NotFound(f"No such job: {job_id}", param="job_id")

    def _page(
        self,
        index: str,
        after: str | None,
        limit: int,
        order: Order,
        prefix: str,
        build: Callable[[dict[str, str]], T],
    ) -> Page[T]:
        _check_limit(limit)
        start = 0
        if after is not None:
            rank = self.redis.zrevrank(index, after) if order == "desc" else self.redis.zrank(index, after)
            if rank is None:
                raise InvalidRequest(f"after: no such id in this list: {after}", param="after")
            start = cast(int, rank) + 1
        ids = cast(list[str], self.redis.zrange(index, start, start + limit, desc=order == "desc"))
        pipe = self.redis.pipeline(transaction=False)
        for item in ids[:limit]:
            pipe.hgetall(prefix + item)
        return Page([build(raw) for raw in pipe.execute() if raw], has_more=len(ids) > limit)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", param="limit")


def _file_from_hash(raw: dict[str, str]) -> FileRecord:
    return FileRecord(
        id=raw["id"],
        team=raw["team"],
        filename=raw["filename"],
        purpose=raw["purpose"],
        bytes=int(raw["bytes"]),
        created_at=int(raw["created_at"]),
        schema=raw["schema"],
        rows=int(raw["rows"]),
        sha256=raw["sha256"],
        path=raw["path"],
        status=raw.get("status", "processed"),
    )


def _model_from_hash(raw: dict[str, str]) -> ModelRecord:
    values: dict[str, Any] = {name: raw[name] for name in ModelRecord.__dataclass_fields__}
    values["created_at"] = int(values["created_at"])
    return ModelRecord(**values)


def _job_from_hash(raw: dict[str, str]) -> JobRecord:
    known = JobRecord.__dataclass_fields__
    values = {name: _decode(name, value) for name, value in raw.items() if name in known}
    values.setdefault("attempts", 0)
    return JobRecord(**values)
