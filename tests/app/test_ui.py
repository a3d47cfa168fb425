"""The /ui pages in a real browser: Debian's chromium, headless, driven by selenium through chromium-driver, against
a real uvicorn server in front of the session's Celery worker. The tests log in, open a finished rewrite job,
filter its rows to ``expert_fallback`` and check the page against the output file; another team's job answers
"not found". They skip, saying so, where no chromium is installed (``.ci/run`` installs it from Debian).

``REWRITER_UI_SCREENSHOTS=docs/ui`` saves a PNG of every page there (how docs/ui/ was made).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rewriter.service.store import Store
from rewriter.settings import Settings
from tests.conftest import WAIT_SCALE, downstream_rows, jsonl_bytes, wait_for

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = os.environ.get("REWRITER_UI_SCREENSHOTS")
FORCED_FALLBACK = {1, 4}  # rows whose gold no candidate can reach: the gate refuses them all


class Client:
    """One team on the real server: an httpx client with its key."""

    def __init__(self, base: str, store: Store, team: str) -> None:
        self.key = store.create_key(team)
        self.http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {self.key}"}, timeout=30)

    def upload(self, rows: list[dict[str, Any]], purpose: str = "rewrite") -> dict[str, Any]:
        files = {"file": ("data.jsonl", jsonl_bytes(rows), "application/jsonl")}
        response = self.http.post("/v1/files", files=files, data={"purpose": purpose})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(path, json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait(self, path: str, timeout: float = 120) -> dict[str, Any]:
        last: dict[str, Any] = {}

        def finished() -> bool:
            nonlocal last
            last = self.http.get(path).json()
            return last["status"] in {"completed", "succeeded", "failed", "cancelled"}

        wait_for(finished, timeout, f"{path} to finish", interval=0.2)
        assert last["status"] in {"completed", "succeeded"}, last
        return last

    def lines(self, file_id: str) -> list[dict[str, Any]]:
        content = self.http.get(f"/v1/files/{file_id}/content").content
        return [json.loads(line) for line in content.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(
            f"no browser: {CHROMIUM} or {CHROMEDRIVER} missing (apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the pages' console, for script errors
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30 * WAIT_SCALE)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def team(api_server: tuple[str, Settings]) -> Client:
    base, settings = api_server
    return Client(base, Store.from_url(settings.redis_url), "ui-acme")


@pytest.fixture(scope="module")
def finished_job(team: Client) -> dict[str, Any]:
    """A completed guided_resolve job over 8 rows (one shard on the server); two have a gold no candidate reaches, so they fall back."""
    rows = downstream_rows(8)
    for i in FORCED_FALLBACK:
        rows[i]["gold"] = "999999"
    file = team.upload(rows)
    body = {
        "input_file_id": file["id"],
        "strategy": "guided_resolve",
        "verifier": "toy-number",
        "sampling": {"k": 1, "max_new_tokens": 40},
        "seed": 7,
    }
    job = team.create("/v1/rewrite_jobs", body)
    return team.wait(f"/v1/rewrite_jobs/{job['id']}", 120)


def find(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, css)


def wait_css(driver: Any, css: str, what: str, timeout: float = 20) -> list[Any]:
    wait_for(lambda: find(driver, css), timeout, what, interval=0.1)
    return list(find(driver, css))


def screenshot(driver: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, min(max(1000, height), 4000))
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(Path(SHOTS) / f"{name}.png"))
        driver.set_window_size(1400, 1000)


def script_errors(driver: Any) -> list[str]:
    """The console's errors since the last call, but for the failed loads a 404 page makes on purpose."""
    logs = driver.get_log("browser")
    return [
        e["message"] for e in logs if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
    ]


def log_in(driver: Any, base: str, key: str) -> None:
    driver.get(f"{base}/ui/login")
    field = wait_css(driver, "#key", "the login form")[0]
    screenshot(driver, "login")
    field.send_keys(key)
    find(driver, "#submit")[0].click()
    wait_for(lambda: driver.current_url.endswith("/ui/jobs"), 20, "the jobs page after logging in")


def test_a_finished_jobs_fallback_rows_match_its_output_file(
    browser: Any, api_server: tuple[str, Settings], team: Client, finished_job: dict[str, Any]
) -> None:
    from selenium.webdriver.support.ui import Select

    base, settings = api_server
    job = finished_job
    log_in(browser, base, team.key)
    listed = wait_css(browser, f"#rewrite-jobs tr[data-id='{job['id']}']", "the job in the jobs list")
    assert "completed" in listed[0].text and "100%" in listed[0].text
    assert browser.execute_script("return sessionStorage.getItem('rewriter.apiKey')") == team.key
    screenshot(browser, "jobs")

    browser.get(f"{base}/ui/rewrite_jobs/{job['id']}")
    wait_css(browser, "#rows-table tr.row", "the row browser")
    assert "100%" in find(browser, "#progress")[0].text
    assert len(find(browser, "#report svg.chart")) == 2  # provenance bars, NLL before/after
    assert "Shard 1/1 done: 8/8 rows." in find(browser, "#events")[0].text
    Select(find(browser, "#provenance")[0]).select_by_value("expert_fallback")

    def only_fallback() -> bool:
        cells = find(browser, "#rows-table tr.row .provenance")
        return bool(cells) and all(c.text == "expert_fallback" for c in cells)

    wait_for(only_fallback, 20, "the rows filtered to expert_fallback", interval=0.1)
    screenshot(browser, "rewrite_job")
    output = [r for r in team.lines(job["output_file_id"]) if r["meta"]["provenance"] == "expert_fallback"]
    inputs = {r["id"]: r for r in downstream_rows(8)}
    shown = [
        {
            "id": tr.get_attribute("data-id"),
            "expert": tr.find_element("css selector", "pre.expert").text,
            "target": tr.find_element("css selector", "pre.target").text,
            "verdict": tr.find_element("css selector", ".verdict").text,
        }
        for tr in find(browser, "#rows-table tr.row")
    ]
    assert len(output) == job["row_counts"]["by_provenance"]["expert_fallback"] >= len(FORCED_FALLBACK)
    assert {f"d{i}" for i in FORCED_FALLBACK} <= {row["id"] for row in shown}
    assert shown == [
        {
            "id": r["id"],
            "expert": inputs[r["id"]]["answer"].strip(),
            "target": r["answer"].strip(),
            "verdict": r["meta"]["gate"]["status"],
        }
        for r in output
    ]
    assert (
        "of the matches" in find(browser, "#page-info")[0].text and not find(browser, "#next")[0].is_enabled()
    )
    assert script_errors(browser) == []
    # The key went out only as a header: not in any URL the browser opened, not in the server's log.
    assert team.key not in browser.current_url
    log = "".join(p.read_text() for p in Path(settings.data_dir).glob("uvicorn-*.log"))
    assert "/v1/rewrite_jobs/" in log and team.key not in log


def test_another_teams_job_is_not_found(
    browser: Any, api_server: tuple[str, Settings], team: Client, finished_job: dict[str, Any]
) -> None:
    base, settings = api_server
    other = Client(base, Store.from_url(settings.redis_url), "ui-other")
    file = other.upload(downstream_rows(2))
    theirs = other.create(
        "/v1/rewrite_jobs",
        {"input_file_id": file["id"], "strategy": "identity", "verifier": "toy-number", "preview": 1},
    )
    assert team.http.get(f"/v1/rewrite_jobs/{theirs['id']}/rows").status_code == 404
    log_in(browser, base, team.key)
    browser.get(f"{base}/ui/rewrite_jobs/{theirs['id']}")
    error = wait_css(browser, "#error", "the not-found message")[0]
    assert error.find_element("css selector", "h1").text == "Not found"
    assert f"No such job: {theirs['id']}" in error.text
    # Its own job still opens, and the other team's file of rows stays out of reach too.
    assert team.http.get(f"/v1/files/{file['id']}").status_code == 404
    browser.get(f"{base}/ui/rewrite_jobs/{finished_job['id']}")
    wait_css(browser, "#rows-table tr.row", "its own job's rows")
    other.wait(f"/v1/rewrite_jobs/{theirs['id']}")  # leave the shared worker idle


@pytest.mark.slow  # a fine-tuning job and two eval runs on the worker: ~60 s on a loaded 2-core machine
def test_fine_tuning_eval_and_forgetting_pages(
    browser: Any, api_server: tuple[str, Settings], team: Client
) -> None:
    base, _ = api_server
    file = team.upload(downstream_rows(16), purpose="fine-tune")
    method = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 4}}}
    job = team.create("/v1/fine_tuning/jobs", {"model": "toy", "training_file": file["id"], "method": method})
    tuned = team.wait(f"/v1/fine_tuning/jobs/{job['id']}", 180)
    suites = ["downstream", "add", "count"]
    runs = [
        team.create("/v1/eval_runs", {"model": model, "suites": suites, "n": 10, "base": "toy"})
        for model in (tuned["fine_tuned_model"], "toy")
    ]
    runs = [team.wait(f"/v1/eval_runs/{run['id']}", 120) for run in runs]
    log_in(browser, base, team.key)

    browser.get(f"{base}/ui/fine_tuning/jobs/{job['id']}")
    wait_css(browser, "#curves svg path.series", "the loss curve")
    checkpoints = wait_css(browser, "#checkpoints tbody tr", "the checkpoints")
    assert tuned["fine_tuned_model"] in checkpoints[0].text
    assert tuned["fine_tuned_model"] in find(browser, "#model")[0].text
    screenshot(browser, "fine_tuning_job")

    browser.get(f"{base}/ui/eval_runs/{runs[0]['id']}")
    rows = wait_css(browser, "#suites tbody tr", "the suites table")
    assert [r.get_attribute("data-suite") for r in rows] == suites
    gain = runs[0]["comparison"]["gain"]
    assert f"{gain:.1f} pts" in find(browser, "#headline")[0].text
    screenshot(browser, "eval_run")

    browser.get(f"{base}/ui/forgetting?ids={runs[0]['id']},{runs[1]['id']}")
    table = wait_css(browser, "#forgetting tbody tr", "the forgetting table")
    assert [r.get_attribute("data-id") for r in table] == [run["id"] for run in runs]
    assert "+0.0 pts" in table[1].find_element("css selector", ".gain").text  # the base against itself
    screenshot(browser, "forgetting")
    browser.get(f"{base}/ui/jobs")
    wait_css(browser, f"#fine-tuning-jobs tr[data-id='{job['id']}']", "the fine-tuning job in the jobs list")
    assert {r["id"] for r in runs} <= {
        r.get_attribute("data-id") for r in find(browser, "#eval-runs tbody tr")
    }
    screenshot(browser, "jobs")  # now with every kind of job
    assert script_errors(browser) == []
