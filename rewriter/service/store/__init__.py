"""Metadata in Redis: files, jobs, per-job event streams, cancel flags, heartbeats and API keys.

Layout (every key under ``rw:``):
- ``rw:file:{id}`` / ``rw:job:{id}`` — hashes, one per resource; JSON for structured fields.
- ``rw:team:{team}:files[:{purpose}]`` / ``rw:team:{team}:jobs:{kind}`` — sorted sets scored by creation time:
  the cursor lists (``after`` = the last id seen).
- ``rw:job:{id}:events`` — a Redis Stream; its entry ids are the event cursors. ``rw:job:{id}:events:sent:{token}``
  (an hour): the entry an ``add_event`` call made, so that its retry does not append it again.
- ``rw:heartbeats`` — sorted set job id → last heartbeat (unix seconds) of the jobs a supervisor owns.
- ``rw:jobcounts`` — hash ``kind:status`` → count, kept exact by the same atomic scripts that move statuses;
  ``rw:teamjobcounts`` — the same per ``team:queue:kind:status`` (queue depth and running jobs per team).
- ``rw:team:{team}:running`` — sorted set of the jobs holding the team's running slots (``slots``: the per-team
  limit on running jobs); ``rw:job:{id}:waiting`` — set while a job waits for one (its event is written once).
- ``rw:apikey:{sha256}``, ``rw:team:{id}``, ``rw:teamname:{name}`` — API keys and teams.
- ``rw:model:{id}`` / ``rw:team:{team}:models`` — trained models and adapters (base models are not stored).
- ``rw:job:{id}:shards:*``, ``rw:job:{id}:shard:{i}`` — a rewrite job's shard claims and leases (``shards``).

Every client retries a call through a Redis restart, for a bounded patience (``base``); every write is
idempotent or recognises its own retry (a job's ``last_op`` is the token of the last status change applied).

One module per resource, each a mixin of ``Store``: ``teams``, ``files``, ``models``, ``jobs`` (the state machine,
on the Lua scripts of ``transitions``), ``events``, ``slots`` (per-team running slots); ``records`` holds what they return and ``codec`` how it is
written. Job kinds and their lifecycles live below the store, in ``rewriter.jobs.kinds``.
"""

from __future__ import annotations

from rewriter.service.store.base import MAX_PAGE
from rewriter.service.store.events import MAX_EVENTS, Events
from rewriter.service.store.files import Files
from rewriter.service.store.jobs import Jobs
from rewriter.service.store.models import Models
from rewriter.service.store.records import Event, FileRecord, JobRecord, ModelRecord, Order, Page
from rewriter.service.store.shards import Shards
from rewriter.service.store.slots import Slot, Slots
from rewriter.service.store.teams import Teams

__all__ = [
    "MAX_EVENTS",
    "MAX_PAGE",
    "Event",
    "FileRecord",
    "JobRecord",
    "ModelRecord",
    "Order",
    "Page",
    "Slot",
    "Store",
]


class Store(Teams, Files, Models, Jobs, Events, Slots, Shards):
    """All Redis access of the service. Cheap to build; share one per process."""
