"""The forgetting forecast: calibrated on the committed experiment, monotone, flagged outside its range, and in
every rewrite report and job summary with the levers when forgetting or fallback is high."""

from __future__ import annotations

import json
from pathlib import Path

from rewriter import forecast, reports
from rewriter.results import RewriteSummary

TABLES = Path(__file__).parents[2] / "docs" / "results"
PLAIN_SFT = {"sft-expert", "guided_resolve+sft", "self_distill+sft", "policy-grpo+sft", "policy-prompt+sft"}


def test_the_calibration_is_the_committed_experiment() -> None:
    table = json.loads((TABLES / "downstream" / "table.json").read_text())
    points = [
        (r["targets"]["mean"], round(r["comparison"]["forgetting_abs"], 4))
        for r in table["runs"]
        if r["arm"] in PLAIN_SFT
    ]
    assert sorted(points) == sorted(forecast.CALIBRATION)
    # the interval holds the calibration points it was fitted on (two residual sd: all but the odd one)
    inside = sum(
        forecast.forecast(x)["interval"][0] <= y <= forecast.forecast(x)["interval"][1] for x, y in points
    )
    assert inside >= len(points) - 1


def test_the_forecast_rises_with_nll_and_says_when_it_extrapolates() -> None:
    values = [forecast.forecast(x / 10)["forgetting_points"] for x in range(0, 100)]
    assert values == sorted(values) and values[0] < 10 < 50 < values[-1]
    assert forecast.forecast(3.0)["within_range"] and not forecast.forecast(7.7)["within_range"]
    assert forecast.forecast(None) is None


def _meta(provenance: str, nll: float) -> dict:
    side = {"qa": nll, "chat": nll, "tokens": 10, "over_1nat": 0}
    return {"provenance": provenance, "nll": {"original": side, "chosen": side}, "attempts": 4, "passed": 0}


def test_a_fallback_heavy_report_lists_the_levers_and_a_clean_one_does_not() -> None:
    heavy = [_meta("self", 0.2)] * 55 + [_meta("expert_fallback", 9.6)] * 45  # the user: 45% fallback
    report = reports.build(heavy, ["t"] * 100, timers={}, rows_computed=100, manifest={"spec": {}})
    levers = [x["lever"] for x in report["forgetting"]["levers"]]
    assert levers == ["fallback: drop", "trained policy", "replay", "token weights"]
    assert report["forgetting"]["forecast"]["forgetting_points"] > 40
    assert report["forgetting"]["if_fallback_dropped"]["forgetting_points"] < 10
    assert "Levers:" in reports.to_markdown(report)
    summary = RewriteSummary.from_report(report)
    assert summary.forgetting is not None
    assert summary.forgetting.points == report["forgetting"]["forecast"]["forgetting_points"]
    assert summary.forgetting.levers == levers
    assert summary.stored()["forgetting"]["levers"] == levers
    assert "forgetting" not in RewriteSummary.from_report({**report, "forgetting": None}).stored()

    clean = [_meta("self", 0.2)] * 99 + [_meta("expert_fallback", 5.6)]
    report = reports.build(clean, ["t"] * 100, timers={}, rows_computed=100, manifest={"spec": {}})
    assert report["forgetting"]["levers"] == [] and report["forgetting"]["forecast"]["within_range"]
    # with fallback: drop, the forecast is for the rows kept: the expert one is gone
    dropped = reports.build(
        clean, ["t"] * 99, timers={}, rows_computed=100, manifest={"spec": {"fallback": "drop"}}
    )
    assert (
        dropped["forgetting"]["forecast"]["forgetting_points"]
        < report["forgetting"]["forecast"]["forgetting_points"]
    )
