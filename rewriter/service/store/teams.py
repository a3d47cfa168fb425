"""Teams and API keys: ``rw:team:{id}``, ``rw:teamname:{name}`` and ``rw:apikey:{sha256}`` (never the plaintext)."""

from __future__ import annotations

import hashlib
import re
import secrets

from rewriter.errors import InvalidRequest, NotFound, Unauthorized
from rewriter.ids import Prefix, new_id, now
from rewriter.service.store.base import StoreBase

_TEAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Teams(StoreBase):
    def ensure_team(self, name: str) -> str:
        """The id of the team called ``name``, created on first use."""
        if not _TEAM_NAME.match(name):
            raise InvalidRequest(
                "team name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                param="team",
            )
        candidate = new_id(Prefix.TEAM)
        # Read back rather than trust SET NX's reply: a retry after a lost reply answers "exists" for our own id.
        self.redis.set(f"rw:teamname:{name}", candidate, nx=True)
        team = str(self.redis.get(f"rw:teamname:{name}"))
        if team == candidate:
            self.redis.hset(f"rw:team:{team}", mapping={"id": team, "name": name, "created_at": now()})
        return team

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
            f"rw:apikey:{key_hash(plaintext)}",
            mapping={"id": new_id(Prefix.KEY), "team": team, "created_at": now()},
        )
        return plaintext

    def team_for_key(self, plaintext: str) -> str:
        team = self.redis.hget(f"rw:apikey:{key_hash(plaintext)}", "team")
        if team is None:
            raise Unauthorized("Incorrect API key provided.", code="invalid_api_key")
        return str(team)


def key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()
