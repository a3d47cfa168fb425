"""The typed progress and results keep the JSON the job records have always held: same keys, same order."""

from __future__ import annotations

import json

from rewriter.results import (
    Checkpoint,
    EvalResult,
    FineTuneResult,
    RewriteProgress,
    RewriteResult,
    RewriteSummary,
    RewriteUsage,
    RowCounts,
    SuiteScore,
)

COUNTS = {
    "total": 4,
    "completed": 4,
    "kept": 3,
    "dropped": 1,
    "by_provenance": {"expert_fallback": 1, "self": 3},
}
SUMMARY = {
    "acceptance_rate": 0.75,
    "fallback_rate": 0.25,
    "unverifiable": 0,
    "nll_before_mean": 2.5,
    "nll_after_mean": 0.5,
    "tokens_over_1nat_before": 0.3,
    "tokens_over_1nat_after": None,
}


def test_a_finished_rewrite_result_is_stored_as_before() -> None:
    result = RewriteResult(
        error_file_id="file-e",
        output_file_id="file-o",
        report_file_id="file-r",
        report_markdown_file_id="file-m",
        row_counts=RowCounts.model_validate(COUNTS),
        summary=RewriteSummary.model_validate(SUMMARY),
        cancelled=False,
        usage=RewriteUsage(cpu_seconds=1.5, rewrite_seconds=1.0, shards_run=2),
    )
    expected = {
        "error_file_id": "file-e",
        "output_file_id": "file-o",
        "report_file_id": "file-r",
        "report_markdown_file_id": "file-m",
        "row_counts": COUNTS,
        "summary": SUMMARY,
        "cancelled": False,
        "usage": {"cpu_seconds": 1.5, "rewrite_seconds": 1.0, "shards_run": 2},
    }
    assert json.dumps(result.stored()) == json.dumps(expected)
    assert RewriteResult.model_validate(expected) == result


def test_a_rewrite_result_written_halfway_holds_only_its_files() -> None:
    assert RewriteResult(output_file_id="file-o").stored() == {
        "error_file_id": None,
        "output_file_id": "file-o",
    }
    assert RewriteResult.model_validate({"output_file_id": "file-o"}).row_counts is None


def test_rewrite_progress_and_an_empty_record_read() -> None:
    progress = {"shards_done": 1, "shards_total": 2, "row_counts": COUNTS}
    assert json.dumps(RewriteProgress.model_validate(progress).stored()) == json.dumps(progress)
    empty = RewriteProgress.model_validate({})
    assert (empty.shards_done, empty.shards_total, empty.row_counts) == (0, None, None)


def test_eval_result_names_base_keys_only_with_a_base() -> None:
    score = SuiteScore(accuracy=0.5, n=2, samples=[{"prompt": "1+1", "output": "2", "gold": "2"}])
    assert list(EvalResult(results={"toy": score}).stored()) == ["results"]
    assert EvalResult.model_validate({}).results is None


def test_fine_tune_result_keeps_openais_checkpoint_shape() -> None:
    checkpoint = Checkpoint(
        id="ftckpt-1",
        created_at=1,
        fine_tuned_model_checkpoint="ft:toy:t:x",
        fine_tuning_job_id="ftjob-1",
        metrics={"step": 3.0, "train_loss": 0.5},
        step_number=3,
    )
    stored = FineTuneResult(
        fine_tuned_model="ft:toy:t:x", result_files=["file-t"], trained_tokens=None, checkpoints=[checkpoint]
    ).stored()
    assert list(stored) == ["fine_tuned_model", "result_files", "trained_tokens", "checkpoints"]
    assert list(stored["checkpoints"][0]) == [
        "id",
        "object",
        "created_at",
        "fine_tuned_model_checkpoint",
        "fine_tuning_job_id",
        "metrics",
        "step_number",
    ]
    assert stored["checkpoints"][0]["object"] == "fine_tuning.job.checkpoint"
