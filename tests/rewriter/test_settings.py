"""The API's launch settings: uvicorn workers (default: the CPUs this process may use) and the key cache TTL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from cli.service import LocalService
from rewriter.settings import ApiSettings, Settings


def test_api_workers_default_to_the_usable_cpus() -> None:
    assert ApiSettings().workers == len(os.sched_getaffinity(0))


def test_api_workers_and_key_cache_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REWRITER_API__WORKERS", "3")
    monkeypatch.setenv("REWRITER_API__KEY_CACHE_SECONDS", "0")
    settings = Settings()
    assert (settings.api.workers, settings.api.key_cache_seconds) == (3, 0)


def test_the_access_log_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert not Settings().api.access_log
    quiet = LocalService(Settings(data_dir=tmp_path, api=ApiSettings(workers=2))).api_command()
    assert quiet[-3:] == ["--workers", "2", "--no-access-log"]
    monkeypatch.setenv("REWRITER_API__ACCESS_LOG", "true")
    assert "--no-access-log" not in LocalService(Settings(data_dir=tmp_path)).api_command()


@pytest.mark.parametrize(
    "bad", [{"workers": 0}, {"key_cache_seconds": -1}, {"key_cache_seconds": float("nan")}]
)
def test_bad_api_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        ApiSettings.model_validate(bad)
