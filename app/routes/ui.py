"""``/ui``: the browser pages — a small static front end over the JSON API (no second API, no build step).

Each page is a plain HTML file with one JS module (``app/static/ui/``) that reads the ``/v1`` API with the team's
key, which the login page keeps in the tab's ``sessionStorage`` and sends as ``Authorization: Bearer``; the key
never appears in a URL, so it never reaches an access log. The pages themselves hold no data and need no key: a
job of another team answers 404 to the page's API call, which the page shows as "not found".
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "static" / "ui"
# Scripts and styles from this origin only (no inline script, no CDN); plots are inline SVG built by the scripts.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(prefix="/ui", include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / f"{name}.html", media_type="text/html", headers=HEADERS)


@router.get("")
def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/jobs")


@router.get("/login")
def login_page() -> FileResponse:
    return _page("login")


@router.get("/jobs")
def jobs_page() -> FileResponse:
    return _page("jobs")


@router.get("/rewrite_jobs/{job_id}")
def rewrite_job_page(job_id: str) -> FileResponse:
    return _page("rewrite_job")


@router.get("/fine_tuning/jobs/{job_id}")
def fine_tuning_job_page(job_id: str) -> FileResponse:
    return _page("fine_tuning_job")


@router.get("/eval_runs/{run_id}")
def eval_run_page(run_id: str) -> FileResponse:
    return _page("eval_run")


@router.get("/forgetting")
def forgetting_page() -> FileResponse:
    """Several eval runs side by side (``?ids=evrun-a,evrun-b``): the forgetting table."""
    return _page("forgetting")


def install(app: FastAPI) -> None:
    """Serve the pages and their scripts and styles (``/ui/static``)."""
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.include_router(router)
