"""A job process's shard claims in the store (``rewriter.shards.Claims``), with its lease kept alive.

The owner is ``<host>:<pid>``. While this process holds a shard a background thread renews the lease every third
of ``lease_seconds``; if the process dies (SIGKILL, the OOM killer, its host gone) the renewals stop and the shard is
free for another process once the lease lapses.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading

from rewriter.service.store import Store


class StoreClaims:
    def __init__(self, store: Store, job_id: str, total: int, lease_seconds: float) -> None:
        self.store = store
        self.job_id = job_id
        self.total = total
        self.lease_seconds = lease_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._held: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name="shard-lease", daemon=True)
        self._renewer.start()
        store.plan_shards(job_id, total)

    def claim(self) -> int | None:
        index = self.store.claim_shard(self.job_id, self.total, self.owner, self.lease_seconds)
        with self._lock:
            self._held = index
        return index

    def finish(self, index: int) -> None:
        self.store.finish_shard(self.job_id, index, self.owner)
        with self._lock:
            self._held = None

    def close(self) -> None:
        self._stop.set()

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            with self._lock:
                held = self._held
            if held is not None:
                # past the store's own retries a lapsed lease is harmless: another process redoes the shard
                with contextlib.suppress(Exception):
                    self.store.renew_shard(self.job_id, held, self.owner, self.lease_seconds)
