"""Fine-tuning requests and their plan: the request fields stay in step with the trainers' specs."""

from __future__ import annotations

import pytest

from rewriter.errors import InvalidRequest
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


def test_n_processes_is_planned_within_the_workers_cap() -> None:
    from training.sft import SFTSpec

    def plan(
        hyper: dict[str, object], max_processes: int = 4, kind: str = "supervised"
    ) -> fine_tune.FineTuneJobSpec:
        method = {"type": kind, kind: {"hyperparameters": hyper}}
        request = fine_tune.FineTuningJobRequest(model="toy", training_file="file-x", method=method)
        return fine_tune.training_plan(request, rows=64, seed=0, max_processes=max_processes)

    planned = plan({"n_processes": 4, "batch_size": 8})
    assert planned.sft is not None and planned.hyperparameters["n_processes"] == 4
    assert SFTSpec(**planned.sft).n_processes == 4  # the trainer takes it as planned
    assert plan({}).hyperparameters["n_processes"] == 1
    for hyper, cap, kind, reason in [
        ({"n_processes": 4}, 2, "supervised", "MAX_TRAIN_PROCESSES"),
        ({"n_processes": 3, "batch_size": 8}, 4, "supervised", "multiple"),
        ({"n_processes": 2}, 4, "grpo", "supervised"),
    ]:
        with pytest.raises(InvalidRequest, match=reason) as error:
            plan(hyper, cap, kind)
        assert error.value.param == f"method.{kind}.hyperparameters.n_processes"


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
