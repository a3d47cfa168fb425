"""The forgetting forecast: how much of the base's skills SFT on a rewritten set is likely to cost, read from the
NLL of its training targets under the base, before any training is spent (issue 15).

Calibration: the experiment's plain-SFT runs on the toy's ``downstream`` task (docs/results/downstream/table.json;
the arms sft-expert, guided_resolve+sft, self_distill+sft, policy-grpo+sft and policy-prompt+sft, 3 seeds each:
full SFT, AdamW lr 5e-4, batch 32, 100 steps, 600 rows). Forgetting (points of base-skill accuracy) is linear in
the mean per-token NLL of the targets (QA prompt), fitted by least squares; the interval is two residual standard
deviations. ``tests/rewriter/test_forecast.py`` checks that ``CALIBRATION`` is exactly those runs.

Range of validity: mean NLL within the calibrated span (0.20–5.66 nats), the toy backbone and that SFT budget. Above
it the forecast is flagged (``within_range: False``): on ``downstream-newop`` (NLL 7.1–7.7) forgetting was 43–75
points, not the line's 76–82, so past the span the line only says "as bad as expert SFT or worse". Another model or
training budget needs its own calibration points.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

# (mean target NLL under the base, forgetting in points): docs/results/downstream/table.json, runs of the plain-SFT
# arms, seeds 0-2.
CALIBRATION: tuple[tuple[float, float], ...] = (
    (5.6503, 67.6667), (0.238, 8.5), (0.2254, 5.1667), (0.2169, 6.8333), (5.1899, 56.6667),
    (5.6153, 61.0), (0.2267, 7.6667), (0.1963, 2.8333), (0.1963, 2.8333), (5.0317, 51.3333),
    (5.6611, 63.8333), (0.2593, 10.8333), (0.2493, 6.1667), (0.2513, 8.6667), (5.1277, 51.1667),
)  # fmt: skip
SETUP = "toy backbone; full SFT, AdamW lr 5e-4, batch 32, 100 steps"


@dataclass(frozen=True)
class Line:
    intercept: float
    slope: float
    residual_sd: float
    low: float  # the calibrated span of mean NLL
    high: float

    def predict(self, mean_nll: float) -> float:
        return min(100.0, max(0.0, self.intercept + self.slope * mean_nll))


def fit(points: tuple[tuple[float, float], ...] = CALIBRATION) -> Line:
    """Least-squares line of forgetting on mean NLL; refuses a non-increasing fit (the forecast must be monotone).

    >>> line = fit(((0.0, 1.0), (1.0, 3.0), (2.0, 5.0)))
    >>> (line.intercept, line.slope, line.predict(1.5))
    (1.0, 2.0, 4.0)
    """
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    if slope <= 0:
        raise ValueError("the calibration points do not rise with NLL: no monotone forecast")
    intercept = my - slope * mx
    residuals = [y - (intercept + slope * x) for x, y in zip(xs, ys, strict=True)]
    return Line(intercept, slope, statistics.pstdev(residuals), min(xs), max(xs))


LINE = fit()


def forecast(mean_nll: float | None) -> dict[str, Any] | None:
    """The forecast for a training set whose targets have ``mean_nll`` nats/token under the base.

    >>> f = forecast(0.24)
    >>> f["forgetting_points"], f["interval"], f["within_range"]
    (6.6, [0.7, 12.6], True)
    >>> forecast(9.6)["within_range"]
    False
    """
    if mean_nll is None:
        return None
    point = LINE.predict(mean_nll)
    half = 2 * LINE.residual_sd
    return {
        "forgetting_points": round(point, 1),
        "interval": [round(max(0.0, point - half), 1), round(min(100.0, point + half), 1)],
        "mean_nll": round(mean_nll, 4),
        "within_range": LINE.low <= mean_nll <= LINE.high,
        "calibrated_range": [LINE.low, LINE.high],
        "setup": SETUP,
    }
