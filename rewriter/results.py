"""What a running job reports: its progress and its result, typed, per kind.

A job's runner (``rewriter.runs``) writes these into the job's record with :meth:`Stored.stored`; the API reads
them back with ``model_validate``. The stored JSON keeps the keys (and their order) the API has always returned, so
old records read and new records look the same. Every field has a default: a record written halfway (a rewrite that
has published its output but not yet its counts) still reads.

>>> RowCounts(total=4, completed=2, kept=1, dropped=1, by_provenance={"self": 1, "expert_fallback": 1}).stored()
{'total': 4, 'completed': 2, 'kept': 1, 'dropped': 1, 'by_provenance': {'self': 1, 'expert_fallback': 1}}
>>> EvalResult(results={"toy": SuiteScore(accuracy=0.5, n=2)}).stored()  # no base: no base keys
{'results': {'toy': {'accuracy': 0.5, 'n': 2, 'samples': [], 'source': 'suite', 'role': None, 'verifier': None, 'unverifiable': 0, 'harness': None}}}
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field


class Stored(BaseModel):
    """A progress or result as the job's record holds it (JSON)."""

    # Keys left out of the stored JSON when None (they were absent, not null, in the records written so far).
    omit_when_none: ClassVar[frozenset[str]] = frozenset()

    def stored(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        return {k: v for k, v in data.items() if not (k in self.omit_when_none and v is None)}


# ---- rewrite --------------------------------------------------------------------------------------------------


class RowCounts(Stored):
    """Rows of a rewrite so far: ``completed`` = ``kept`` + ``dropped``, by how each row's target came about."""

    total: int | None = None
    completed: int = 0
    kept: int = 0
    dropped: int = 0
    by_provenance: dict[str, int] = {}


class RewriteProgress(Stored):
    shards_done: int = 0
    shards_total: int | None = None
    row_counts: RowCounts | None = None


class ForgettingForecast(Stored):
    """The rewrite report's forgetting forecast (``rewriter.forecast``): points of base-skill accuracy SFT on the
    kept rows is likely to cost, its interval, whether the targets' mean NLL lies in the calibrated range, and the
    levers the report lists (empty when neither forecast nor fallback share is high)."""

    points: float
    interval: list[float]
    within_range: bool
    levers: list[str] = []


class RewriteSummary(Stored):
    """The headline numbers of a rewrite report (``rewriter.reports.build``)."""

    acceptance_rate: float | None = None
    fallback_rate: float | None = None
    unverifiable: int = 0
    nll_before_mean: float | None = None
    nll_after_mean: float | None = None
    tokens_over_1nat_before: float | None = None
    tokens_over_1nat_after: float | None = None
    # Absent (not null) in records written before the forecast existed, so those read and store as they were.
    forgetting: ForgettingForecast | None = Field(None, exclude_if=lambda value: value is None)

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> RewriteSummary:
        """The summary of a rewrite report.

        >>> side = {"qa": {"mean": 1.5}, "tokens_over_1nat": 0.2}
        >>> report = {"acceptance_rate": 0.75, "fallback_rate": 0.25, "unverifiable": 0}
        >>> RewriteSummary.from_report({**report, "nll_before": side, "nll_after": side}).nll_after_mean
        1.5
        """
        forgetting = report.get("forgetting") or {}
        forecast = forgetting.get("forecast")
        return cls(
            forgetting=ForgettingForecast(
                points=forecast["forgetting_points"],
                interval=forecast["interval"],
                within_range=forecast["within_range"],
                levers=[x["lever"] for x in forgetting.get("levers", [])],
            )
            if forecast
            else None,
            acceptance_rate=report["acceptance_rate"],
            fallback_rate=report["fallback_rate"],
            unverifiable=report["unverifiable"],
            nll_before_mean=report["nll_before"]["qa"]["mean"],
            nll_after_mean=report["nll_after"]["qa"]["mean"],
            tokens_over_1nat_before=report["nll_before"]["tokens_over_1nat"],
            tokens_over_1nat_after=report["nll_after"]["tokens_over_1nat"],
        )


class RewriteUsage(Stored):
    cpu_seconds: float  # the attempt's process: start, model load, rewrite
    rewrite_seconds: float
    shards_run: int  # shards this attempt computed (a resumed run skips the finished ones)


class RewriteResult(Stored):
    """The files a rewrite published and, once it is done, its counts. Written once per published file (so a
    rerun reuses them), then in full."""

    omit_when_none: ClassVar[frozenset[str]] = frozenset(
        {"output_file_id", "report_file_id", "report_markdown_file_id", "row_counts", "summary"}
        | {"cancelled", "usage"}
    )

    error_file_id: str | None = None
    output_file_id: str | None = None
    report_file_id: str | None = None
    report_markdown_file_id: str | None = None
    row_counts: RowCounts | None = None
    summary: RewriteSummary | None = None
    cancelled: bool | None = None
    usage: RewriteUsage | None = None


# ---- fine-tune ------------------------------------------------------------------------------------------------


class FineTuneProgress(Stored):
    step: int
    steps: int


class Checkpoint(Stored):
    """OpenAI's ``fine_tuning.job.checkpoint``."""

    id: str
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: dict[str, float]
    step_number: int


class FineTuneResult(Stored):
    fine_tuned_model: str | None = None
    result_files: list[str] = []
    trained_tokens: int | None = None
    checkpoints: list[Checkpoint] = []


# ---- eval -----------------------------------------------------------------------------------------------------


class HarnessRecord(Stored):
    """The settings an lm-evaluation-harness score was produced with."""

    metric: str  # "<metric>,<filter>", lm-eval's key
    num_fewshot: int
    apply_chat_template: bool
    lm_eval_version: str
    model_class: str = "HFLM"  # lm-eval's model class: HFLM (transformers + PEFT) or VLLM
    data_file_id: str | None = None  # the team's file the task read its test split from


class SuiteScore(Stored):
    """Accuracy on one toy suite, held-out file (keyed by its id) or harness task (keyed by its name)."""

    accuracy: float
    n: int
    samples: list[dict[str, str]] = []  # a few (prompt, output, gold) for eyeballing
    source: Literal["suite", "file", "harness"] = "suite"
    role: Literal["downstream", "retention"] | None = None  # None: a suite that is neither (reference)
    verifier: str | None = None  # files: the gate
    unverifiable: int = 0  # files: rows whose gold the verifier could not parse (not graded)
    harness: HarnessRecord | None = None


class EvalComparison(Stored):
    """``rewriter.evaluation.Comparison``: downstream gain and retention forgetting against the base."""

    downstream: dict[str, dict[str, float]]  # suite -> {base, tuned, gain}
    retention: dict[str, dict[str, float]]  # suite -> {base, tuned, drop}
    forgetting_abs: float  # points (0-100)
    forgetting_rel: float  # fraction of the base's retention accuracy lost
    gain: float  # mean downstream gain, points


class EvalResult(Stored):
    omit_when_none: ClassVar[frozenset[str]] = frozenset({"base_results", "comparison"})

    results: dict[str, SuiteScore] | None = None
    base_results: dict[str, SuiteScore] | None = None
    comparison: EvalComparison | None = None
