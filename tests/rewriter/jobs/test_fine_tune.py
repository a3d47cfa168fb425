"""Fine-tuning requests and their plan: the request fields stay in step with the trainers' specs."""

from __future__ import annotations

from rewriter.jobs import fine_tune


def test_request_fields_stay_in_step_with_the_trainers() -> None:
    from training.grpo import GRPOSpec
    from training.sft import SFTSpec

    supervised = set(fine_tune.SupervisedMethod.model_fields) - {"hyperparameters"}
    assert supervised <= set(SFTSpec.model_fields)
    # warm_start_file is a file id the worker fetches and passes on as GRPOSpec.warm_start (a local path)
    assert set(fine_tune.GRPOMethod.model_fields) - {"hyperparameters", "warm_start_file"} <= set(
        GRPOSpec.model_fields
    )
    assert "warm_start" in GRPOSpec.model_fields
    assert (
        SFTSpec().lr == fine_tune.SFT_BASE_LEARNING_RATE
        and GRPOSpec().lr == fine_tune.GRPO_BASE_LEARNING_RATE
    )
    plan = fine_tune.training_plan(
        fine_tune.FineTuningJobRequest(model="toy", training_file="file-x", method={"type": "grpo"}),
        rows=10,
        seed=1,
    )
    assert plan.grpo is not None
    GRPOSpec(**plan.grpo)  # every resolved setting is one the trainer takes
    plan = fine_tune.training_plan(
        fine_tune.FineTuningJobRequest(model="toy", training_file="file-x"), rows=10, seed=1
    )
    assert plan.sft is not None
    assert SFTSpec(**plan.sft).steps == fine_tune.DEFAULT_STEPS


def test_the_sft_levers_reach_the_trainer_and_a_replay_file_needs_a_ratio() -> None:
    import pytest

    from rewriter.errors import InvalidRequest
    from training.sft import SFTSpec

    def plan(**supervised: object) -> fine_tune.FineTuneJobSpec:
        return fine_tune.training_plan(
            fine_tune.FineTuningJobRequest(
                model="toy", training_file="file-x", method={"type": "supervised", "supervised": supervised}
            ),
            rows=10,
            seed=1,
        )

    sft = plan(token_weighting="mask", token_nll_threshold=2.0, replay_ratio=0.3, replay_file="file-r").sft
    assert sft is not None
    spec = SFTSpec(**sft)
    assert (spec.token_weighting, spec.token_nll_threshold, spec.replay_ratio) == ("mask", 2.0, 0.3)
    with pytest.raises(InvalidRequest) as refused:
        plan(replay_file="file-r")
    assert refused.value.param == "method.supervised.replay_ratio"
    with pytest.raises(InvalidRequest) as refused:
        plan(loss="is", token_weighting="down")
    assert refused.value.param == "method.supervised.token_weighting"
